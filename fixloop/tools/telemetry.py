"""Telemetry tools: what production recorded around the signal, read through boto3.

They run in the Run Tool Lambda (``runs_in="lambda"``) and only read:

* ``query_logs``: a CloudWatch Logs Insights query over a window around the signal;
* ``get_metric_statistics``: a CloudWatch metric around the signal (an alarm's own metric by
  default), with a one-line summary of when it rose;
* ``get_trace_summaries`` and ``get_trace``: X-Ray traces, errors and faults first;
* ``recent_deployments``: changes to the signal's Lambda function (versions, last
  modification, the commit it carries) shortly before the errors started.

Windows are relative to ``signal.occurred_at`` and every time shown is UTC ISO 8601. Failures
the model can act on (a missing log group, a malformed query, a query that runs too long) are
:class:`ToolFailed`; AWS throttling is a :class:`TransientError`, which the state machine
retries with backoff; anything else (5xx, connection errors) propagates as an infrastructure
error.
"""

from __future__ import annotations

import json
import math
import re
import statistics
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError
from pydantic import BaseModel, Field

from fixloop import aws
from fixloop.errors import ToolFailed, TransientError
from fixloop.tools.registry import Tool, ToolContext, cap_output

if TYPE_CHECKING:
    from fixloop.domain import Signal

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
MAX_CELL_CHARS = 1_000
"""A Logs Insights value longer than this (a huge message) is cut in the table."""
MAX_METRIC_SERIES = 10
MAX_DATAPOINTS = 1_440
MAX_PAGES = 20
MAX_TRACE_SUMMARIES = 1_000
"""Summaries read before sorting errors and faults first; more are not read."""
MAX_TRACE_DEPTH = 12
MAX_VERSIONS = 500
COMMIT_ENV_VARS = ("FIXLOOP_COMMIT", "GIT_COMMIT", "COMMIT_SHA")
COMMIT_TAGS = ("git_commit", "commit")
LAMBDA_LOG_GROUP = "/aws/lambda/"


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
"""The policy ``query_logs`` uses (read at each call)."""


# -- inputs -------------------------------------------------------------------------------


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


class MetricStatisticsInput(BaseModel):
    namespace: str | None = Field(
        default=None,
        description='e.g. "AWS/Lambda". Give it with metric_name; both default to the '
        "alarm's own metric when the signal is an alarm.",
    )
    metric_name: str | None = Field(default=None, description='e.g. "Errors".')
    dimensions: dict[str, str] = Field(
        default_factory=dict,
        description='Dimension name to value, e.g. {"FunctionName": "orders"}. Default: '
        "none (or the alarm's).",
    )
    stat: str = Field(
        default="Sum",
        min_length=1,
        description="Sum, Average, Minimum, Maximum, SampleCount, or a percentile like p99 "
        "(default Sum, or the alarm's).",
    )
    period_s: int = Field(
        default=60,
        ge=1,
        le=86_400,
        description="Seconds per datapoint: 1, 5, 10, 30 or a multiple of 60 (default 60, "
        "or the alarm's).",
    )
    minutes_before: int = Field(
        default=60, ge=0, le=MAX_WINDOW_MINUTES, description="Minutes before the signal."
    )
    minutes_after: int = Field(
        default=15, ge=0, le=MAX_WINDOW_MINUTES, description="Minutes after the signal."
    )


class TraceSummariesInput(BaseModel):
    filter_expression: str | None = Field(
        default=None,
        description='An X-Ray filter expression, e.g. "fault = true", '
        "'service(\"orders\") AND responsetime > 2', 'http.status = 500'.",
    )
    minutes_before: int = Field(
        default=15, ge=0, le=24 * 60, description="Minutes before the signal."
    )
    minutes_after: int = Field(default=5, ge=0, le=24 * 60, description="Minutes after the signal.")
    limit: int = Field(default=20, ge=1, le=200, description="At most this many traces.")


class GetTraceInput(BaseModel):
    trace_id: str = Field(
        min_length=1,
        max_length=64,
        description="An X-Ray trace id, e.g. 1-5759e988-bd862e3fe1be46a994272793.",
    )


class RecentDeploymentsInput(BaseModel):
    minutes_before: int = Field(
        default=240, ge=1, le=30 * 24 * 60, description="How far before the signal to look."
    )
    function_name: str | None = Field(
        default=None,
        description="A Lambda function name or ARN to check. Default: the function of the "
        "signal (its /aws/lambda/<name> log group, or the alarm's FunctionName dimension).",
    )


# -- query_logs ---------------------------------------------------------------------------


def query_logs(ctx: ToolContext, args: QueryLogsInput) -> str:
    group = (args.log_group or "").strip() or _signal_log_group(ctx.signal)
    start, end, at = _window(ctx.signal, args.minutes_before, args.minutes_after)
    started = _aws(
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
        f"Logs Insights on {group}, {_iso(start)} to {_iso(end)} "
        f"(signal at {_iso(at)}): {len(rows)} rows"
    )
    stats = result.get("statistics") or {}
    if stats:
        head += (
            f" (matched {_num(stats.get('recordsMatched', 0))} of "
            f"{_num(stats.get('recordsScanned', 0))} records scanned)"
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
    hint = "".join(f" (e.g. {LAMBDA_LOG_GROUP}{fn})" for fn in _alarm_functions(signal)[:1])
    raise ToolFailed(
        f"the signal is the alarm {signal.source!r}, not a log group: give log_group{hint}"
    )


def _await_query(query_id: str, policy: PollPolicy) -> dict[str, Any]:
    deadline = policy.clock() + policy.max_wait_s
    delay = policy.first_delay_s
    while True:
        policy.sleep(max(min(delay, deadline - policy.clock()), 0.0))
        result: dict[str, Any] = _aws("logs", "get_query_results", queryId=query_id)
        status = result.get("status")
        if status == "Complete":
            return result
        if status in ("Failed", "Cancelled", "Timeout", "Unknown"):
            raise ToolFailed(
                f"the query ended with status {status}: shorten the window or simplify it"
            )
        if policy.clock() >= deadline:
            with suppress(ClientError, BotoCoreError, ToolFailed, TransientError):
                _aws("logs", "stop_query", queryId=query_id)
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
            return _iso(datetime.fromtimestamp(int(value) / 1000, UTC), millis=True)
        if found := _INSIGHTS_TIME.match(value):  # Insights' "YYYY-MM-DD HH:MM:SS.mmm", UTC
            return f"{found[1]}T{found[2]}Z"
    text = value.rstrip("\n").replace("\r\n", "\n").replace("\n", "\\n")
    if len(text) > MAX_CELL_CHARS:
        text = f"{text[:MAX_CELL_CHARS]}[... {len(text) - MAX_CELL_CHARS} more characters]"
    return text


# -- get_metric_statistics ----------------------------------------------------------------


@dataclass(frozen=True)
class _Series:
    namespace: str
    name: str
    dimensions: dict[str, str]
    stat: str
    period_s: int

    def label(self) -> str:
        dims = ", ".join(f"{k}={v}" for k, v in sorted(self.dimensions.items()))
        return f"{self.namespace} {self.name}" + (f" {{{dims}}}" if dims else "")


def get_metric_statistics(ctx: ToolContext, args: MetricStatisticsInput) -> str:
    series = _metric_series(ctx.signal, args)
    start, end, at = _window(ctx.signal, args.minutes_before, args.minutes_after)
    queries: list[dict[str, Any]] = []
    for i, s in enumerate(series):
        _check_period(s.period_s)
        # GetMetricData aligns periods; whole periods on both ends keep the datapoints whole.
        s_start, s_end = _floor(start, s.period_s), _ceil(end, s.period_s)
        count = int((s_end - s_start).total_seconds()) // s.period_s
        if count > MAX_DATAPOINTS:
            raise ToolFailed(
                f"{count} periods of {s.period_s} s in the window: use a larger period_s or a "
                f"shorter window (at most {MAX_DATAPOINTS} datapoints)"
            )
        start, end = min(start, s_start), max(end, s_end)
        metric = {
            "Namespace": s.namespace,
            "MetricName": s.name,
            "Dimensions": [{"Name": k, "Value": v} for k, v in s.dimensions.items()],
        }
        queries.append(
            {
                "Id": f"m{i}",
                "MetricStat": {"Metric": metric, "Period": s.period_s, "Stat": s.stat},
                "ReturnData": True,
            }
        )
    points: dict[str, list[tuple[datetime, float]]] = {q["Id"]: [] for q in queries}
    messages: list[str] = []
    params: dict[str, Any] = {
        "MetricDataQueries": queries,
        "StartTime": start,
        "EndTime": end,
        "ScanBy": "TimestampAscending",
    }
    for _ in range(MAX_PAGES):
        page = _aws("cloudwatch", "get_metric_data", **params)
        for res in page.get("MetricDataResults", []):
            pairs = zip(res.get("Timestamps", []), res.get("Values", []), strict=False)
            points.setdefault(str(res["Id"]), []).extend((_utc(t), float(v)) for t, v in pairs)
            messages += [m.get("Value", "") for m in res.get("Messages", []) if m.get("Value")]
        messages += [m.get("Value", "") for m in page.get("Messages", []) if m.get("Value")]
        if not page.get("NextToken"):
            break
        params["NextToken"] = page["NextToken"]
    blocks = []
    for query, s in zip(queries, series, strict=True):
        data = sorted(points[query["Id"]])
        blocks.append(_metric_block(s, data, start, end, at))
    if messages:
        blocks.append("CloudWatch said: " + "; ".join(dict.fromkeys(messages)))
    return cap_output("\n\n".join(blocks), ctx.max_output_chars)


def _metric_series(signal: Signal, args: MetricStatisticsInput) -> list[_Series]:
    given = args.model_fields_set
    if args.namespace or args.metric_name:
        if not (args.namespace and args.metric_name):
            raise ToolFailed("give both namespace and metric_name (or neither, for an alarm)")
        return [
            _Series(args.namespace, args.metric_name, args.dimensions, args.stat, args.period_s)
        ]
    if signal.kind != "alarm":
        raise ToolFailed(
            "give namespace and metric_name: only an alarm signal has a default metric"
        )
    series = []
    for item in _alarm_metrics(signal):
        stat = item.get("metricStat") or {}
        metric = stat.get("metric") or {}
        if not metric.get("namespace") or not metric.get("name"):
            continue
        dims = metric.get("dimensions") or {}
        if isinstance(dims, list):  # [{"name": ..., "value": ...}], as GetMetricData writes it
            dims = {str(d.get("name", d.get("Name"))): d.get("value", d.get("Value")) for d in dims}
        series.append(
            _Series(
                namespace=str(metric["namespace"]),
                name=str(metric["name"]),
                dimensions=args.dimensions
                if "dimensions" in given
                else {str(k): str(v) for k, v in dims.items()},
                stat=args.stat if "stat" in given else str(stat.get("stat") or args.stat),
                period_s=args.period_s
                if "period_s" in given
                else int(stat.get("period") or args.period_s),
            )
        )
    if not series:
        expressions = [str(m["expression"]) for m in _alarm_metrics(signal) if m.get("expression")]
        what = f" (it uses the expression {expressions[0]!r})" if expressions else ""
        raise ToolFailed(
            f"the alarm {signal.source!r} has no plain metric{what}: give namespace and metric_name"
        )
    return series[:MAX_METRIC_SERIES]


def _alarm_metrics(signal: Signal) -> list[dict[str, Any]]:
    """The alarm's ``configuration.metrics``: a JSON list in ``details["metrics"]``."""
    raw = signal.details.get("metrics") if signal.kind == "alarm" else None
    if not raw:
        return []
    try:
        metrics = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError:
        return []
    return [m for m in metrics if isinstance(m, dict)] if isinstance(metrics, list) else []


def _alarm_functions(signal: Signal) -> list[str]:
    """Lambda functions an alarm watches (its metrics' FunctionName dimension)."""
    names: list[str] = []
    for item in _alarm_metrics(signal):
        dims = ((item.get("metricStat") or {}).get("metric") or {}).get("dimensions") or {}
        name = dims.get("FunctionName") if isinstance(dims, dict) else None
        if name and name not in names:
            names.append(str(name))
    return names


def _check_period(period_s: int) -> None:
    if period_s not in (1, 5, 10, 30) and period_s % 60:
        raise ToolFailed(f"period_s must be 1, 5, 10, 30 or a multiple of 60, not {period_s}")


def _metric_block(
    s: _Series, data: list[tuple[datetime, float]], start: datetime, end: datetime, at: datetime
) -> str:
    head = (
        f"{s.label()} {s.stat} per {s.period_s} s, {_iso(start)} to {_iso(end)} "
        f"(signal at {_iso(at)})"
    )
    if not data:
        return (
            f"{head}\nno datapoints: the metric has no data in the window, or does not exist "
            "with exactly these dimensions (dimensions must all match)"
        )
    rows = "\n".join(f"{_iso(t)}  {_num(v)}" for t, v in data)
    return (
        f"{head}\nsummary: {_rise(data, at)}\n"
        f"timestamp (period start)  value; periods without data are not listed\n{rows}"
    )


def _rise(data: list[tuple[datetime, float]], at: datetime) -> str:
    """The maximum, and when the values last rose above the baseline before reaching it."""
    peak_i = max(range(len(data)), key=lambda i: (data[i][1], -i))
    peak_t, peak = data[peak_i]
    before = [v for t, v in data if t < at]
    if before:
        baseline = statistics.median(before)
        what = f"the median of the {len(before)} datapoints before the signal"
        spread = statistics.median(abs(v - baseline) for v in before)
    else:
        baseline, what, spread = min(v for _, v in data), "the lowest value", 0.0
    text = f"max {_num(peak)} at {_iso(peak_t)} ({_relative(peak_t, at)})"
    if peak <= baseline:
        return f"{text}; never above the baseline {_num(baseline)} ({what})"
    threshold = min(baseline + 3 * spread, baseline + (peak - baseline) / 2)
    first = peak_i
    while first > 0 and data[first - 1][1] > threshold:
        first -= 1
    rose_t = data[first][0]
    return (
        f"{text}; baseline {_num(baseline)} ({what}); above it from {_iso(rose_t)} "
        f"({_relative(rose_t, at)}) up to the max"
    )


# -- X-Ray --------------------------------------------------------------------------------


def get_trace_summaries(ctx: ToolContext, args: TraceSummariesInput) -> str:
    start, end, at = _window(ctx.signal, args.minutes_before, args.minutes_after)
    params: dict[str, Any] = {"StartTime": start, "EndTime": end, "Sampling": False}
    if args.filter_expression and args.filter_expression.strip():
        params["FilterExpression"] = args.filter_expression.strip()
    summaries: list[dict[str, Any]] = []
    more = True  # unless the pages end first
    for _ in range(MAX_PAGES):
        page = _aws("xray", "get_trace_summaries", **params)
        summaries += page.get("TraceSummaries", [])
        token = page.get("NextToken")
        if not token:
            more = False
            break
        if len(summaries) >= MAX_TRACE_SUMMARIES:
            break
        params["NextToken"] = token
    summaries.sort(
        key=lambda s: (
            not s.get("HasFault"),
            not s.get("HasError"),
            not s.get("HasThrottle"),
            -float(s.get("ResponseTime") or 0),
        )
    )
    where = f" matching {params['FilterExpression']!r}" if "FilterExpression" in params else ""
    head = f"{len(summaries)}{'+' if more else ''} traces{where}, {_iso(start)} to {_iso(end)} "
    head += f"(signal at {_iso(at)})"
    if not summaries:
        return (
            f"{head}. None: is X-Ray tracing on for the service? Widen the window or loosen "
            "the filter."
        )
    counts = [
        sum(1 for s in summaries if s.get(k)) for k in ("HasFault", "HasError", "HasThrottle")
    ]
    head += f": {counts[0]} with faults (5xx), {counts[1]} with errors (4xx), {counts[2]} throttled"
    shown = summaries[: args.limit]
    if len(shown) < len(summaries):
        head += f"; the first {len(shown)}, faults and errors first, follow"
    lines = [head]
    for s in shown:
        lines.extend(_summary_lines(s))
    return cap_output("\n".join(lines), ctx.max_output_chars)


def _summary_lines(s: dict[str, Any]) -> list[str]:
    flags = [
        f
        for f, k in (("FAULT", "HasFault"), ("ERROR", "HasError"), ("THROTTLE", "HasThrottle"))
        if s.get(k)
    ]
    parts = [str(s.get("Id", "?")), "/".join(flags) or "ok"]
    if s.get("StartTime"):
        parts.append(_iso(_utc(s["StartTime"]), millis=True))
    if s.get("ResponseTime") is not None:
        parts.append(f"response {float(s['ResponseTime']):.3f} s")
    http = s.get("Http") or {}
    if http.get("HttpURL") or http.get("HttpMethod"):
        request = f"{http.get('HttpMethod', '')} {http.get('HttpURL', '')}".strip()
        parts.append(f"{request} -> {http.get('HttpStatus', '?')}")
    entry = (s.get("EntryPoint") or {}).get("Name")
    if entry:
        parts.append(f"entry {entry}")
    lines = ["  ".join(parts)]
    for key in ("FaultRootCauses", "ErrorRootCauses"):
        for cause in (s.get(key) or [])[:2]:
            for service in cause.get("Services") or []:
                for entity in service.get("EntityPath") or []:
                    for exc in (entity.get("Exceptions") or [])[:2]:
                        lines.append(
                            f"    root cause in {service.get('Name', '?')} "
                            f"({entity.get('Name', '?')}): {exc.get('Name', '?')}: "
                            f"{_one_line(str(exc.get('Message', '')))}"
                        )
    return lines


def get_trace(ctx: ToolContext, args: GetTraceInput) -> str:
    trace_id = args.trace_id.strip()
    traces: list[dict[str, Any]] = []
    params: dict[str, Any] = {"TraceIds": [trace_id]}
    for _ in range(MAX_PAGES):
        page = _aws("xray", "batch_get_traces", **params)
        traces += page.get("Traces", [])
        token = page.get("NextToken")
        if not token:
            break
        params["NextToken"] = token
    segments = [seg for t in traces if t.get("Id") == trace_id for seg in t.get("Segments", [])]
    if not segments:
        raise ToolFailed(
            f"trace {trace_id} was not found (X-Ray keeps traces for 30 days; take ids from "
            "get_trace_summaries)"
        )
    docs: list[dict[str, Any]] = []
    for seg in segments:
        with suppress(json.JSONDecodeError, TypeError):
            doc = json.loads(seg.get("Document") or "")
            if isinstance(doc, dict):
                docs.append(doc)
    docs.sort(key=lambda d: float(d.get("start_time") or 0))
    exceptions: dict[str, dict[str, Any]] = {}
    for doc in docs:
        _collect_exceptions(doc, exceptions, 0)
    duration = next((t.get("Duration") for t in traces if t.get("Duration") is not None), None)
    head = f"Trace {trace_id}: {len(docs)} segments"
    if duration is not None:
        head += f", {float(duration):.3f} s"
    if docs and docs[0].get("start_time"):
        started = datetime.fromtimestamp(float(docs[0]["start_time"]), UTC)
        head += f", from {_iso(started, millis=True)}"
    lines = [head]
    for doc in docs:
        _segment_lines(doc, 0, exceptions, lines)
    return cap_output("\n".join(lines), ctx.max_output_chars)


def _collect_exceptions(doc: dict[str, Any], into: dict[str, dict[str, Any]], depth: int) -> None:
    cause = doc.get("cause")
    if isinstance(cause, dict):
        for exc in cause.get("exceptions") or []:
            if isinstance(exc, dict) and exc.get("id"):
                into[str(exc["id"])] = exc
    if depth < MAX_TRACE_DEPTH:
        for sub in doc.get("subsegments") or []:
            if isinstance(sub, dict):
                _collect_exceptions(sub, into, depth + 1)


def _segment_lines(
    doc: dict[str, Any], depth: int, exceptions: dict[str, dict[str, Any]], out: list[str]
) -> None:
    pad = "  " * depth
    name = str(doc.get("name", "?"))
    if doc.get("origin"):
        name += f" ({doc['origin']})"
    elif doc.get("namespace"):
        name += f" [{doc['namespace']}]"
    parts = [f"{pad}{name}"]
    start, end = doc.get("start_time"), doc.get("end_time")
    if isinstance(start, int | float) and isinstance(end, int | float):
        parts.append(f"{(end - start) * 1000:.0f} ms")
    elif doc.get("in_progress"):
        parts.append("in progress")
    parts += [flag.upper() for flag in ("fault", "error", "throttle") if doc.get(flag) is True]
    aws_info = doc.get("aws") or {}
    if isinstance(aws_info, dict) and aws_info.get("operation"):
        parts.append(f"operation {aws_info['operation']}")
    http = doc.get("http") or {}
    request = http.get("request") or {} if isinstance(http, dict) else {}
    response = http.get("response") or {} if isinstance(http, dict) else {}
    if request.get("method") or request.get("url"):
        line = f"{request.get('method', '')} {request.get('url', '')}".strip()
        parts.append(f"{line} -> {response.get('status', '?')}")
    elif response.get("status"):
        parts.append(f"status {response['status']}")
    out.append("  ".join(parts))
    cause = doc.get("cause")
    excs: list[dict[str, Any]] = []
    if isinstance(cause, dict):
        excs = [e for e in cause.get("exceptions") or [] if isinstance(e, dict)]
    elif isinstance(cause, str) and cause in exceptions:
        excs = [exceptions[cause]]
    for exc in excs[:3]:
        text = (
            f"{pad}  ! {exc.get('type') or 'exception'}: {_one_line(str(exc.get('message', '')))}"
        )
        frame = next(iter(exc.get("stack") or []), None)
        if isinstance(frame, dict) and frame.get("path"):
            text += f" (at {frame['path']}:{frame.get('line', '?')}"
            text += f" in {frame['label']})" if frame.get("label") else ")"
        out.append(text)
    subs = [s for s in doc.get("subsegments") or [] if isinstance(s, dict)]
    if subs and depth >= MAX_TRACE_DEPTH:
        out.append(f"{pad}  ... {len(subs)} deeper subsegments not shown")
        return
    for sub in sorted(subs, key=lambda d: float(d.get("start_time") or 0)):
        _segment_lines(sub, depth + 1, exceptions, out)


# -- recent_deployments -------------------------------------------------------------------


def recent_deployments(ctx: ToolContext, args: RecentDeploymentsInput) -> str:
    signal = ctx.signal
    at = _utc(signal.occurred_at)
    since = at - timedelta(minutes=args.minutes_before)
    if args.function_name and args.function_name.strip():
        functions, why = [args.function_name.strip()], "given"
    elif signal.kind == "log_errors" and signal.source.startswith(LAMBDA_LOG_GROUP):
        functions, why = [signal.source[len(LAMBDA_LOG_GROUP) :]], f"from {signal.source}"
    else:
        functions, why = _alarm_functions(signal), "the alarm's FunctionName dimension"
    if not functions:
        return (
            f"Nothing checked: the signal's source {signal.source!r} is not a Lambda log group "
            f"({LAMBDA_LOG_GROUP}<function>) and has no FunctionName dimension, and only Lambda "
            "functions are checked (CloudFormation, CodeDeploy and other deploy systems are "
            "not). Give function_name to check a Lambda function; the repository history "
            "(git log in the sandbox, suspect_commits) covers the code."
        )
    blocks = []
    missing = []
    for fn in functions[:5]:
        try:
            blocks.append(_function_deployments(fn, why, since, at))
        except ToolFailed as exc:
            missing.append(str(exc))
    if not blocks:
        raise ToolFailed("; ".join(missing))
    blocks += missing
    blocks.append(
        "Checked: Lambda GetFunction and ListVersionsByFunction (LastModified of $LATEST and "
        f"of each version; commits from the {'/'.join(COMMIT_ENV_VARS)} environment variables "
        f"and the {'/'.join(COMMIT_TAGS)} tags). Not checked: CloudFormation, CodeDeploy and "
        "other deploy systems."
    )
    return cap_output("\n\n".join(blocks), ctx.max_output_chars)


def _function_deployments(fn: str, why: str, since: datetime, at: datetime) -> str:
    on_error = {
        "ResourceNotFoundException": f"Lambda function {fn} ({why}) was not found ({{message}})"
    }
    got = _aws("lambda", "get_function", on_error=on_error, FunctionName=fn)
    config = got.get("Configuration") or {}
    tags = got.get("Tags") or {}
    versions: list[dict[str, Any]] = []
    params: dict[str, Any] = {"FunctionName": fn, "MaxItems": 50}
    for _ in range(MAX_PAGES):
        page = _aws("lambda", "list_versions_by_function", on_error=on_error, **params)
        versions += page.get("Versions", [])
        if not page.get("NextMarker") or len(versions) >= MAX_VERSIONS:
            break
        params["Marker"] = page["NextMarker"]
    if not any(v.get("Version") == "$LATEST" for v in versions):
        versions.append(config)
    tag_commit = next((f"{k}={tags[k]}" for k in COMMIT_TAGS if tags.get(k)), "")
    changes: list[tuple[datetime, str]] = []
    for v in versions:
        when = _lambda_time(str(v.get("LastModified") or ""))
        if when is None:
            continue
        version = str(v.get("Version") or "$LATEST")
        what = (
            "$LATEST code or configuration updated"
            if version == "$LATEST"
            else f"version {version} published"
        )
        notes = [_env_commit(v)]
        if version == "$LATEST" and tag_commit:
            notes.append(f"tag {tag_commit}")
        if v.get("Description"):
            notes.append(f"description {_one_line(str(v['Description']))[:200]!r}")
        if v.get("CodeSha256"):
            notes.append(f"code sha256 {str(v['CodeSha256'])[:12]}")
        detail = "; ".join(n for n in notes if n)
        changes.append((when, f"{_iso(when)}  {what}" + (f" ({detail})" if detail else "")))
    changes.sort(reverse=True)
    head = (
        f"Lambda function {config.get('FunctionName') or fn} ({why}), from {_iso(since)} to "
        f"the signal at {_iso(at)}:"
    )
    inside = [f"  {text} - {_relative(t, at)}" for t, text in changes if since <= t <= at]
    after = [f"  {text} - {_relative(t, at)}" for t, text in changes if t > at]
    earlier = [(t, text) for t, text in changes if t < since]
    lines = [head]
    if inside:
        lines.append(f"  {len(inside)} changes in the window, newest first:")
        lines += inside
    else:
        lines.append(f"  no deployment in the {_minutes(at - since)} before the signal")
    if after:
        lines.append("  after the signal (cannot have caused it):")
        lines += after
    if earlier:
        t, text = earlier[0]
        lines.append(f"  latest change before the window: {text} - {_relative(t, at)}")
    current = _env_commit(config) or (f"tag {tag_commit}" if tag_commit else "")
    lines.append(f"  current commit: {current or 'not recorded on the function'}")
    return "\n".join(lines)


def _env_commit(config: dict[str, Any]) -> str:
    env = (config.get("Environment") or {}).get("Variables") or {}
    return next((f"{k}={env[k]}" for k in COMMIT_ENV_VARS if env.get(k)), "")


_LAMBDA_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)?$")


def _lambda_time(text: str) -> datetime | None:
    """Lambda's LastModified: ``2024-01-31T12:00:00.000+0000`` (moto: nanoseconds and Z)."""
    found = _LAMBDA_TIME.match(text.strip())
    if not found:
        return None
    base, fraction, zone = found.groups()
    micros = (fraction or "0")[:6].ljust(6, "0")
    offset = "+0000" if zone in (None, "Z") else zone.replace(":", "")
    return datetime.strptime(f"{base}.{micros}{offset}", "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(UTC)


# -- shared helpers -----------------------------------------------------------------------


def _aws(
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


def _window(signal: Signal, before: int, after: int) -> tuple[datetime, datetime, datetime]:
    if before + after <= 0:
        raise ToolFailed("the window is empty: give minutes_before or minutes_after")
    at = _utc(signal.occurred_at)
    return at - timedelta(minutes=before), at + timedelta(minutes=after), at


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _iso(value: datetime, *, millis: bool = False) -> str:
    value = _utc(value)
    if millis:
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _floor(value: datetime, period_s: int) -> datetime:
    epoch = int(value.timestamp())
    return datetime.fromtimestamp(epoch - epoch % period_s, UTC)


def _ceil(value: datetime, period_s: int) -> datetime:
    epoch = math.ceil(value.timestamp())
    return datetime.fromtimestamp(epoch + (-epoch) % period_s, UTC)


def _relative(when: datetime, at: datetime) -> str:
    seconds = (when - at).total_seconds()
    if abs(seconds) < 30:
        return "at the signal"
    side = "after" if seconds > 0 else "before"
    return f"{_minutes(timedelta(seconds=abs(seconds)))} {side} the signal"


def _minutes(delta: timedelta) -> str:
    minutes = round(delta.total_seconds() / 60)
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes / 60
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"


def _num(value: Any) -> str:
    number = float(value)
    return str(int(number)) if number.is_integer() and abs(number) < 1e15 else f"{number:.6g}"


def _one_line(text: str) -> str:
    return " ".join(text.split())[:500]


TELEMETRY_TOOLS: list[Tool] = [
    Tool(
        "query_logs",
        "Run a CloudWatch Logs Insights query over a window around the signal's time, on the "
        "signal's log group by default; returns the rows as a table (UTC times). Filter and "
        "limit in the query to keep results small.",
        QueryLogsInput,
        query_logs,
    ),
    Tool(
        "get_metric_statistics",
        "Read a CloudWatch metric around the signal's time (for an alarm, its own metric by "
        "default): the datapoints, the maximum and when the values rose above the baseline.",
        MetricStatisticsInput,
        get_metric_statistics,
    ),
    Tool(
        "get_trace_summaries",
        "List X-Ray traces around the signal's time, faults and errors first, with response "
        "times, HTTP requests and root causes; optionally filtered by an X-Ray filter "
        "expression.",
        TraceSummariesInput,
        get_trace_summaries,
    ),
    Tool(
        "get_trace",
        "Show one X-Ray trace: its segments and subsegments with durations, fault/error "
        "flags, HTTP calls and exception messages.",
        GetTraceInput,
        get_trace,
    ),
    Tool(
        "recent_deployments",
        "List changes to the signal's Lambda function (new versions, code or configuration "
        "updates, with the commit recorded on the function) in the hours before the signal.",
        RecentDeploymentsInput,
        recent_deployments,
    ),
]
