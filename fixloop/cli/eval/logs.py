"""The CloudWatch Logs of a scenario (its optional ``"logs"`` file): read and checked with the
scenario, then put into the runtime's CloudWatch Logs once per ``fixloop eval``, before the
scenario's first run, so ``query_logs`` finds them (the logs behind an alarm, say).

The file holds Logs deliveries as a subscription delivers them (decoded), one or a list::

    {"logGroup": "/aws/lambda/orders", "logStream": "2026/12/03/[$LATEST]ab12",
     "logEvents": [{"timestamp": 1796287820000, "message": "..."}, ...]}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from fixloop import aws
from fixloop.errors import BadInputError, FixloopError

__all__ = ["LogDelivery", "LogEvent", "put_logs", "read_deliveries"]

MAX_LOGS_BYTES = 5 * 1024 * 1024
BATCH = 1_000
"""Events per ``PutLogEvents`` (the API takes up to 10,000 and 1 MB)."""


class LogEvent(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    timestamp: int = Field(ge=0)
    """Milliseconds since the epoch."""
    message: str = Field(min_length=1)


class LogDelivery(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    logGroup: str = Field(min_length=1, max_length=512)
    logStream: str = Field(min_length=1, max_length=512)
    logEvents: list[LogEvent] = Field(min_length=1)


_DELIVERIES: TypeAdapter[LogDelivery | list[LogDelivery]] = TypeAdapter(
    LogDelivery | list[LogDelivery]
)


def read_deliveries(path: Path) -> tuple[LogDelivery, ...]:
    """The deliveries of ``path``; BadInputError (one line) when it is not one or a list."""
    try:
        raw = path.read_bytes()
        if len(raw) > MAX_LOGS_BYTES:
            raise BadInputError(f"{path}: larger than {MAX_LOGS_BYTES} bytes")
        data: Any = json.loads(raw)
        parsed = _DELIVERIES.validate_python(data)
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read it ({exc.strerror})") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadInputError(f"{path} is not valid JSON: {exc}") from exc
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise BadInputError(
            f"{path}: not a Logs delivery ({{logGroup, logStream, logEvents}}) or a list of "
            f"them: {loc}: {first['msg']}"
        ) from exc
    return tuple(parsed) if isinstance(parsed, list) else (parsed,)


def put_logs(deliveries: tuple[LogDelivery, ...]) -> int:
    """Put ``deliveries`` into CloudWatch Logs (groups and streams made when missing); the
    number of events put. A refusal is a :class:`FixloopError` of the runs it concerns."""
    logs = aws.client("logs")
    put = 0
    try:
        for d in deliveries:
            _create(logs.create_log_group, logGroupName=d.logGroup)
            _create(logs.create_log_stream, logGroupName=d.logGroup, logStreamName=d.logStream)
            events = sorted(d.logEvents, key=lambda e: e.timestamp)
            for i in range(0, len(events), BATCH):
                logs.put_log_events(
                    logGroupName=d.logGroup,
                    logStreamName=d.logStream,
                    logEvents=[e.model_dump() for e in events[i : i + BATCH]],
                )
            put += len(events)
    except (BotoCoreError, ClientError) as exc:
        raise FixloopError(f"cannot put the scenario's logs into CloudWatch Logs: {exc}") from exc
    return put


def _create(call: Any, **kwargs: str) -> None:
    try:
        call(**kwargs)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceAlreadyExistsException":
            raise
