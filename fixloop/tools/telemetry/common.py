"""What the telemetry tools share: AWS calls with their errors sorted, the window around the
signal, the alarm's metrics, and how times and numbers are written (UTC ISO 8601)."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError, ParamValidationError

from fixloop import aws
from fixloop.errors import ToolFailed, TransientError

if TYPE_CHECKING:
    from fixloop.domain import Signal

__all__ = [
    "LAMBDA_LOG_GROUP",
    "MAX_PAGES",
    "MAX_WINDOW_MINUTES",
    "THROTTLING_CODES",
    "alarm_functions",
    "alarm_metrics",
    "call_aws",
    "ceil_period",
    "duration",
    "floor_period",
    "iso",
    "num",
    "one_line",
    "relative",
    "utc",
    "window",
]

THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "LimitExceededException",  # Logs Insights: too many concurrent queries
    }
)
MAX_WINDOW_MINUTES = 14 * 24 * 60
MAX_PAGES = 20
LAMBDA_LOG_GROUP = "/aws/lambda/"


def call_aws(
    service: str, operation: str, /, *, on_error: dict[str, str] | None = None, **params: Any
) -> Any:
    """``aws.client(service).<operation>(**params)`` with AWS errors sorted: throttling is a
    TransientError; a 4xx, or parameters botocore rejects, a ToolFailed (``on_error`` words
    it by error code, with ``{message}``); anything else propagates."""
    try:
        return getattr(aws.client(service), operation)(**params)
    except ParamValidationError as exc:  # botocore's own check, before any request
        raise ToolFailed(f"invalid {service} {operation} request: {exc}") from exc
    except ClientError as exc:
        error = exc.response.get("Error") or {}
        code = str(error.get("Code") or "")
        message = str(error.get("Message") or exc)
        status = int((exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0)
        if code in THROTTLING_CODES or status == 429:
            raise TransientError(f"{service} {operation} was throttled: {message}") from exc
        if on_error and code in on_error:
            text = on_error[code].format(message=message)
            detail = exc.response.get("queryCompileError") or {}
            if detail.get("message") and detail["message"] not in text:
                text += f" ({detail['message']})"
            raise ToolFailed(text) from exc
        if 400 <= status < 500:
            raise ToolFailed(f"{service} {operation} failed: {code}: {message}") from exc
        raise


def window(signal: Signal, before: int, after: int) -> tuple[datetime, datetime, datetime]:
    if before + after <= 0:
        raise ToolFailed("the window is empty: give minutes_before or minutes_after")
    at = utc(signal.occurred_at)
    return at - timedelta(minutes=before), at + timedelta(minutes=after), at


def utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def iso(value: datetime, *, millis: bool = False) -> str:
    value = utc(value)
    if millis:
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def floor_period(value: datetime, period_s: int) -> datetime:
    epoch = int(value.timestamp())
    return datetime.fromtimestamp(epoch - epoch % period_s, UTC)


def ceil_period(value: datetime, period_s: int) -> datetime:
    epoch = math.ceil(value.timestamp())
    return datetime.fromtimestamp(epoch + (-epoch) % period_s, UTC)


def relative(when: datetime, at: datetime) -> str:
    seconds = (when - at).total_seconds()
    if abs(seconds) < 30:
        return "at the signal"
    side = "after" if seconds > 0 else "before"
    return f"{duration(timedelta(seconds=abs(seconds)))} {side} the signal"


def duration(delta: timedelta) -> str:
    minutes = round(delta.total_seconds() / 60)
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes / 60
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"


def num(value: Any) -> str:
    number = float(value)
    return str(int(number)) if number.is_integer() and abs(number) < 1e15 else f"{number:.6g}"


def one_line(text: str) -> str:
    return " ".join(text.split())[:500]


def alarm_metrics(signal: Signal) -> list[dict[str, Any]]:
    """The alarm's ``configuration.metrics``: a JSON list in ``details["metrics"]``."""
    raw = signal.details.get("metrics") if signal.kind == "alarm" else None
    if not raw:
        return []
    try:
        metrics = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError:
        return []
    return [m for m in metrics if isinstance(m, dict)] if isinstance(metrics, list) else []


def alarm_functions(signal: Signal) -> list[str]:
    """Lambda functions an alarm watches (its metrics' FunctionName dimension)."""
    names: list[str] = []
    for item in alarm_metrics(signal):
        dims = ((item.get("metricStat") or {}).get("metric") or {}).get("dimensions") or {}
        name = dims.get("FunctionName") if isinstance(dims, dict) else None
        if name and name not in names:
            names.append(str(name))
    return names
