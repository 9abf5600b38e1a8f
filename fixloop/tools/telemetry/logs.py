"""``query_logs``: a CloudWatch Logs Insights query over a window around the signal, polled
until it completes (:class:`PollPolicy`), its rows shown as a table."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, Field

from fixloop.errors import ToolFailed, TransientError
from fixloop.tools.registry import Tool, ToolContext, cap_output
from fixloop.tools.telemetry.common import (
    LAMBDA_LOG_GROUP,
    MAX_WINDOW_MINUTES,
    alarm_functions,
    call_aws,
    iso,
    num,
    window,
)

if TYPE_CHECKING:
    from fixloop.domain import Signal

__all__ = [
    "MAX_CELL_CHARS",
    "QUERY_LOGS",
    "QUERY_POLL",
    "PollPolicy",
    "QueryLogsInput",
    "query_logs",
]

MAX_CELL_CHARS = 1_000
"""A Logs Insights value longer than this (a huge message) is cut in the table."""


@dataclass(frozen=True)
class PollPolicy:
    """How long ``query_logs`` waits for a query: up to ``max_wait_s`` in all, sleeping
    ``first_delay_s`` first and doubling up to ``max_delay_s``. ``sleep`` and ``clock`` are
    replaceable so tests need not wait."""

    max_wait_s: float = 60.0
    first_delay_s: float = 0.5
    max_delay_s: float = 5.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic


QUERY_POLL = PollPolicy()
"""The policy ``query_logs`` uses, read at each call (tests replace it here)."""


class QueryLogsInput(BaseModel):
    query: str = Field(
        min_length=1,
        description="A CloudWatch Logs Insights query, e.g. "
        '"fields @timestamp, @message | filter @message like /ERROR/ '
        '| sort @timestamp desc | limit 50".',
    )
    log_group: str | None = Field(
        default=None,
        description="The log group to query. Default: the signal's log group (log signals "
        "only; for an alarm give one, e.g. /aws/lambda/<function>).",
    )
    minutes_before: int = Field(
        default=30, ge=0, le=MAX_WINDOW_MINUTES, description="Window start, before the signal."
    )
    minutes_after: int = Field(
        default=10, ge=0, le=MAX_WINDOW_MINUTES, description="Window end, after the signal."
    )
    limit: int = Field(default=100, ge=1, le=10_000, description="At most this many rows.")


def query_logs(ctx: ToolContext, args: QueryLogsInput) -> str:
    group = (args.log_group or "").strip() or _signal_log_group(ctx.signal)
    start, end, at = window(ctx.signal, args.minutes_before, args.minutes_after)
    started = call_aws(
        "logs",
        "start_query",
        on_error={
            "ResourceNotFoundException": f"log group {group} was not found ({{message}})",
            "MalformedQueryException": "malformed query: {message}",
        },
        logGroupName=group,
        startTime=int(start.timestamp()),
        endTime=int(end.timestamp()),
        queryString=args.query,
        limit=args.limit,
    )
    result = _await_query(str(started["queryId"]), QUERY_POLL)
    rows: list[list[dict[str, str]]] = result.get("results") or []
    head = (
        f"Logs Insights on {group}, {iso(start)} to {iso(end)} "
        f"(signal at {iso(at)}): {len(rows)} rows"
    )
    stats = result.get("statistics") or {}
    if stats:
        head += (
            f" (matched {num(stats.get('recordsMatched', 0))} of "
            f"{num(stats.get('recordsScanned', 0))} records scanned)"
        )
    if not rows:
        return f"{head}. Nothing matched: widen minutes_before/minutes_after or loosen the query."
    if len(rows) > args.limit:
        head += f"; the first {args.limit} follow"
        rows = rows[: args.limit]
    return cap_output(f"{head}\n{_table(rows)}", ctx.max_output_chars)


def _signal_log_group(signal: Signal) -> str:
    if signal.kind == "log_errors":
        return signal.source
    hint = "".join(f" (e.g. {LAMBDA_LOG_GROUP}{fn})" for fn in alarm_functions(signal)[:1])
    raise ToolFailed(
        f"the signal is the alarm {signal.source!r}, not a log group: give log_group{hint}"
    )


def _await_query(query_id: str, policy: PollPolicy) -> dict[str, Any]:
    deadline = policy.clock() + policy.max_wait_s
    delay = policy.first_delay_s
    while True:
        policy.sleep(max(min(delay, deadline - policy.clock()), 0.0))
        result: dict[str, Any] = call_aws("logs", "get_query_results", queryId=query_id)
        status = result.get("status")
        if status == "Complete":
            return result
        if status in ("Failed", "Cancelled", "Timeout", "Unknown"):
            raise ToolFailed(
                f"the query ended with status {status}: shorten the window or simplify it"
            )
        if policy.clock() >= deadline:
            with suppress(ClientError, BotoCoreError, ToolFailed, TransientError):
                call_aws("logs", "stop_query", queryId=query_id)
            raise ToolFailed(
                f"query still running after {policy.max_wait_s:.0f} s; narrow it (a shorter "
                "window, a filter before stats, a smaller limit); it was stopped"
            )
        delay = min(delay * 2, policy.max_delay_s)


def _table(rows: list[list[dict[str, str]]]) -> str:
    columns: list[str] = []
    for row in rows:
        for cell in row:
            name = cell.get("field", "")
            if name and name != "@ptr" and name not in columns:
                columns.append(name)
    lines = [" | ".join(columns)]
    for row in rows:
        values = {cell.get("field", ""): cell.get("value", "") for cell in row}
        lines.append(" | ".join(_cell(col, values.get(col, "")) for col in columns).rstrip())
    return "\n".join(lines)


_INSIGHTS_TIME = re.compile(r"^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?)$")


def _cell(column: str, value: str) -> str:
    if column in ("@timestamp", "@ingestionTime"):
        if value.isdigit():  # epoch milliseconds
            return iso(datetime.fromtimestamp(int(value) / 1000, UTC), millis=True)
        if found := _INSIGHTS_TIME.match(value):  # Insights' "YYYY-MM-DD HH:MM:SS.mmm", UTC
            return f"{found[1]}T{found[2]}Z"
    text = value.rstrip("\n").replace("\r\n", "\n").replace("\n", "\\n")
    if len(text) > MAX_CELL_CHARS:
        text = f"{text[:MAX_CELL_CHARS]}[... {len(text) - MAX_CELL_CHARS} more characters]"
    return text


QUERY_LOGS = Tool(
    "query_logs",
    "Run a CloudWatch Logs Insights query over a window around the signal's time, on the "
    "signal's log group by default; returns the rows as a table (UTC times). Use it for how "
    "often and since when an error occurs, the requests around it, and other log groups, "
    'e.g. {"query": "fields @timestamp, @message | filter @message like /KeyError/ | sort '
    '@timestamp desc | limit 20", "minutes_before": 120}. Filter and limit in the query to '
    "keep results small. Not for the signal's own lines (get_signal).",
    QueryLogsInput,
    query_logs,
)
