"""Signals: what tells fixloop that something is wrong in production.

Two formats arrive from AWS and are parsed with Powertools' parser models:

* an EventBridge "CloudWatch Alarm State Change" event (Powertools has the envelope,
  ``EventBridgeModel``, but no model for this detail, so :class:`AlarmStateChangeDetail`
  is ours, after the shape AWS documents);
* a CloudWatch Logs subscription message, either decoded (``logGroup``, ``logStream``,
  ``logEvents``) or in the ``{"awslogs": {"data": base64-gzip}}`` envelope a Lambda receives.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from aws_lambda_powertools.utilities.parser.models import (
    CloudWatchLogsDecode,
    CloudWatchLogsModel,
    EventBridgeModel,
)
from pydantic import BaseModel, Field, ValidationError

from fixloop.domain.payloads import parse_json
from fixloop.domain.titles import clean_title
from fixloop.errors import BadInputError, SignalError

ALARM_DETAIL_TYPE = "CloudWatch Alarm State Change"
MAX_SIGNAL_LOG_LINES = 200
MAX_SIGNAL_FILE_BYTES = 10 * 1024 * 1024
"""A signal file larger than this is refused unread (a CloudWatch Logs delivery is at most
about 1 MB, an alarm event a few KB)."""


class AlarmState(BaseModel):
    value: str
    reason: str = ""
    timestamp: datetime | None = None
    reasonData: str | None = None


class AlarmStateChangeDetail(BaseModel):
    alarmName: str
    state: AlarmState
    previousState: AlarmState | None = None
    configuration: dict[str, Any] = Field(default_factory=dict)


class LogLine(BaseModel):
    timestamp: datetime
    message: str


class Signal(BaseModel):
    """A production problem, normalised from whichever source reported it."""

    kind: Literal["alarm", "log_errors"]
    source: str
    """The alarm name, or the log group."""
    title: str
    occurred_at: datetime
    account: str | None = None
    region: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    log_lines: list[LogLine] = Field(default_factory=list)

    def render(self) -> str:
        """The signal in full (``get_signal`` pages it; the prompt holds a bounded view of
        it, :func:`fixloop.domain.signal_view.prompt_section`)."""
        lines = self.header_lines()
        if self.log_lines:
            lines.append(f"Log lines ({len(self.log_lines)}):")
            lines.extend(f"[{ln.timestamp.isoformat()}] {ln.message}" for ln in self.log_lines)
        return "\n".join(lines)

    def header_lines(self, value_chars: int | None = None) -> list[str]:
        """What the signal says besides its log lines; each detail's value cut to
        ``value_chars`` (head and tail kept) when given."""
        lines = [
            f"Signal: {self.title}",
            f"Kind: {self.kind}; source: {self.source}; at {self.occurred_at.isoformat()}",
        ]
        if self.account or self.region:
            lines.append(f"Account: {self.account or '?'}; region: {self.region or '?'}")
        for key, value in self.details.items():
            text = str(value)
            lines.append(f"{key}: {cut_middle(text, value_chars) if value_chars else text}")
        if self.log_lines:
            first = min(ln.timestamp for ln in self.log_lines)
            latest = max(ln.timestamp for ln in self.log_lines)
            lines.append(
                f"Occurrences: {len(self.log_lines)} in this signal, first at "
                f"{first.isoformat()}, latest at {latest.isoformat()}"
            )
        return lines


def cut_middle(text: str, limit: int) -> str:
    """``text`` cut to about ``limit`` characters, its head and tail kept and the cut said
    (a stack trace's end matters as much as its start)."""
    if len(text) <= limit:
        return text
    marker = " [... {cut:,} characters cut ...] "
    room = max(limit - len(marker.format(cut=len(text))), 2)
    head = room * 2 // 3
    tail = room - head
    return text[:head] + marker.format(cut=len(text) - head - tail) + text[len(text) - tail :]


def parse_signal(payload: Any) -> Signal:
    """Parse any accepted signal payload; raise :class:`SignalError` naming the problem."""
    if not isinstance(payload, dict):
        raise SignalError("a signal must be a JSON object")
    if "awslogs" in payload:
        try:
            decoded = CloudWatchLogsModel.model_validate(payload).awslogs.decoded_data
        except ValidationError as exc:
            raise SignalError(
                f"not a CloudWatch Logs subscription envelope: {_first(exc)}"
            ) from exc
        return _from_logs(decoded)
    if "logEvents" in payload:
        try:
            return _from_logs(CloudWatchLogsDecode.model_validate(payload))
        except ValidationError as exc:
            raise SignalError(f"not a CloudWatch Logs subscription message: {_first(exc)}") from exc
    if payload.get("detail-type") == ALARM_DETAIL_TYPE:
        return _from_alarm(payload)
    raise SignalError(
        "unrecognised signal: expected an EventBridge 'CloudWatch Alarm State Change' event "
        "or a CloudWatch Logs subscription message"
    )


def load_signal(path: Path, *, max_bytes: int = MAX_SIGNAL_FILE_BYTES) -> Signal:
    """Read and parse a signal file: at most ``max_bytes`` are read, so an oversized file is
    refused before anything is parsed."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(max_bytes + 1)
    except OSError as exc:
        raise SignalError(f"cannot read signal file {path}: {exc.strerror}") from exc
    if len(raw) > max_bytes:
        raise SignalError(f"signal file {path} is over {max_bytes:,} bytes: not a signal")
    try:
        payload = parse_json(raw, what=f"signal file {path}")
    except BadInputError as exc:
        raise SignalError(str(exc)) from exc
    try:
        return parse_signal(payload)
    except SignalError as exc:
        raise SignalError(f"signal file {path}: {exc}") from exc


def _from_alarm(payload: dict[str, Any]) -> Signal:
    try:
        event = EventBridgeModel.model_validate(payload)
        detail = AlarmStateChangeDetail.model_validate(event.detail)
    except ValidationError as exc:
        raise SignalError(f"invalid alarm state change event: {_first(exc)}") from exc
    if detail.state.value != "ALARM":
        raise SignalError(
            f"alarm {detail.alarmName!r} changed to {detail.state.value}, not ALARM: nothing to do"
        )
    metrics = detail.configuration.get("metrics", [])
    details: dict[str, Any] = {"reason": detail.state.reason}
    if detail.configuration.get("description"):
        details["description"] = detail.configuration["description"]
    if metrics:
        details["metrics"] = json.dumps(metrics, sort_keys=True)
    return Signal(
        kind="alarm",
        source=detail.alarmName,
        title=clean_title(f"Alarm {detail.alarmName} is in ALARM"),
        occurred_at=detail.state.timestamp or event.time,
        account=event.account,
        region=event.region,
        details=details,
    )


def _from_logs(decoded: CloudWatchLogsDecode) -> Signal:
    if decoded.messageType != "DATA_MESSAGE":
        raise SignalError(f"CloudWatch Logs {decoded.messageType} carries no log events")
    if not decoded.logEvents:
        raise SignalError("CloudWatch Logs message has no log events")
    lines = [LogLine(timestamp=ev.timestamp, message=str(ev.message)) for ev in decoded.logEvents]
    lines.sort(key=lambda ln: ln.timestamp)
    first_line = next(
        (ln.message.strip().splitlines()[-1] for ln in lines if ln.message.strip()), "errors"
    )
    return Signal(
        kind="log_errors",
        source=decoded.logGroup,
        title=clean_title(f"Errors in {decoded.logGroup}: {first_line}"),
        occurred_at=lines[0].timestamp,
        account=decoded.owner,
        details={
            "log_stream": decoded.logStream,
            "subscription_filters": ", ".join(decoded.subscriptionFilters),
            "events": len(lines),
        },
        log_lines=lines[:MAX_SIGNAL_LOG_LINES],
    )


def _first(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "payload"
    return f"{where}: {err['msg']}"


def utcnow() -> datetime:
    return datetime.now(UTC)
