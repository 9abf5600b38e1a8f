"""``get_trace_summaries`` and ``get_trace``: X-Ray traces around the signal, faults and
errors first, and one trace's segments with their exceptions."""

from __future__ import annotations

import json
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from fixloop.errors import ToolFailed
from fixloop.tools.registry import Tool, ToolContext, cap_output
from fixloop.tools.telemetry.common import MAX_PAGES, call_aws, iso, one_line, utc, window

__all__ = [
    "GET_TRACE",
    "GET_TRACE_SUMMARIES",
    "MAX_TRACE_DEPTH",
    "MAX_TRACE_SUMMARIES",
    "GetTraceInput",
    "TraceSummariesInput",
    "get_trace",
    "get_trace_summaries",
]

MAX_TRACE_SUMMARIES = 1_000
"""Summaries read before sorting errors and faults first; more are not read."""
MAX_TRACE_DEPTH = 12


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


def get_trace_summaries(ctx: ToolContext, args: TraceSummariesInput) -> str:
    start, end, at = window(ctx.signal, args.minutes_before, args.minutes_after)
    params: dict[str, Any] = {"StartTime": start, "EndTime": end, "Sampling": False}
    if args.filter_expression and args.filter_expression.strip():
        params["FilterExpression"] = args.filter_expression.strip()
    summaries: list[dict[str, Any]] = []
    more = True  # unless the pages end first
    for _ in range(MAX_PAGES):
        page = call_aws("xray", "get_trace_summaries", **params)
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
    head = f"{len(summaries)}{'+' if more else ''} traces{where}, {iso(start)} to {iso(end)} "
    head += f"(signal at {iso(at)})"
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
        parts.append(iso(utc(s["StartTime"]), millis=True))
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
                            f"{one_line(str(exc.get('Message', '')))}"
                        )
    return lines


def get_trace(ctx: ToolContext, args: GetTraceInput) -> str:
    trace_id = args.trace_id.strip()
    traces: list[dict[str, Any]] = []
    params: dict[str, Any] = {"TraceIds": [trace_id]}
    for _ in range(MAX_PAGES):
        page = call_aws("xray", "batch_get_traces", **params)
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
        head += f", from {iso(started, millis=True)}"
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
        text = f"{pad}  ! {exc.get('type') or 'exception'}: {one_line(str(exc.get('message', '')))}"
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


GET_TRACE_SUMMARIES = Tool(
    "get_trace_summaries",
    "List X-Ray traces around the signal's time, faults and errors first, with response "
    "times, HTTP requests and root causes; optionally filtered by an X-Ray filter "
    "expression (e.g. 'fault = true AND service(\"orders\")'). Then read one with "
    "get_trace.",
    TraceSummariesInput,
    get_trace_summaries,
)
GET_TRACE = Tool(
    "get_trace",
    "Show one X-Ray trace: its segments and subsegments with durations, fault/error "
    "flags, HTTP calls and exception messages: where a slow or failing request spent its "
    "time or failed. Take the id from get_trace_summaries.",
    GetTraceInput,
    get_trace,
)
