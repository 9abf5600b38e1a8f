"""What the live view shows of one log event, beside the event itself (``view``).

The page renders these fields and never needs the log's internals: a signal with its
occurrences and a console link, an assistant message as text, thinking and tool-call cards
(:mod:`fixloop.live.cards`), a tool result as its card's fields. Events whose own fields are
what a person reads (messages, questions, the outcome) have no view.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import boto3

from fixloop.domain.events import AssistantMessage, ContextGathering, Event, SignalReceived
from fixloop.domain.events import ToolResult as ToolResultEvent
from fixloop.domain.signal import Signal
from fixloop.live.cards import call_card, result_card

__all__ = ["console_url", "event_view", "signal_card"]

_KIND_LABELS = {"alarm": "CloudWatch alarm", "log_errors": "Errors in CloudWatch Logs"}


def event_view(event: Event) -> dict[str, Any] | None:
    """The fields the page shows for ``event``; None when the event's own fields are it."""
    if isinstance(event, SignalReceived):
        return signal_card(event.signal)
    if isinstance(event, AssistantMessage):
        return {"blocks": [_block(b) for b in event.content]}
    if isinstance(event, ContextGathering):
        return {"blocks": [call_card(b) for b in event.calls], "by_fixloop": True}
    if isinstance(event, ToolResultEvent):
        return result_card(event)
    return None


def _block(block: dict[str, Any]) -> dict[str, Any]:
    kind = block.get("type")
    if kind == "text":
        return {"type": "text", "text": str(block.get("text", ""))}
    if kind == "thinking":
        return {"type": "thinking", "text": str(block.get("thinking", ""))}
    if kind == "redacted_thinking":
        return {"type": "thinking", "text": "", "redacted": True}
    if kind == "tool_use":
        return call_card(block)
    return {"type": "other", "block_type": str(kind)}


def signal_card(signal: Signal) -> dict[str, Any]:
    """The signal as its summary shows it: what, where (with a console link), when, how often."""
    times = [line.timestamp for line in signal.log_lines] or [signal.occurred_at]
    region = signal.region or boto3.session.Session().region_name or ""
    count = signal.details.get("events")
    return {
        "title": signal.title,
        "kind": signal.kind,
        "kind_label": _KIND_LABELS.get(signal.kind, signal.kind),
        "source": signal.source,
        "region": region,
        "account": signal.account or "",
        "console_url": console_url(signal.kind, signal.source, region),
        "first_at": min(times).isoformat(),
        "latest_at": max(times).isoformat(),
        "count": int(count) if isinstance(count, int | str) and str(count).isdigit() else None,
        "fields": _signal_fields(signal),
    }


def console_url(kind: str, source: str, region: str) -> str:
    """The CloudWatch console page of an alarm or a log group ("" without a region)."""
    if not region or not source:
        return ""
    home = f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
    if kind == "alarm":
        return f"{home}#alarmsV2:alarm/{quote(source, safe='')}"
    # The console's fragment escapes the log group name twice, "%" itself as "$25".
    return f"{home}#logsV2:log-groups/log-group/{quote(source, safe='').replace('%', '$25')}"


def _signal_fields(signal: Signal) -> list[dict[str, str]]:
    names = {
        "reason": "Reason",
        "description": "Description",
        "log_stream": "Log stream",
        "subscription_filters": "Subscription filter",
    }
    fields = [
        {"name": label, "value": str(signal.details[key])}
        for key, label in names.items()
        if signal.details.get(key)
    ]
    metrics = _metrics(signal.details.get("metrics"))
    if metrics:
        fields.append({"name": "Metric", "value": metrics})
    return fields


def _metrics(raw: object) -> str:
    """An alarm's metrics (JSON, as the alarm event carries them) as one line each."""
    if not isinstance(raw, str):
        return ""
    try:
        metrics = json.loads(raw)
    except ValueError:
        return raw
    lines = []
    for metric in metrics if isinstance(metrics, list) else []:
        stat = metric.get("metricStat") if isinstance(metric, dict) else None
        if not isinstance(stat, dict):
            continue
        what = stat.get("metric") or {}
        dims = ", ".join(f"{k}={v}" for k, v in (what.get("dimensions") or {}).items())
        line = f"{what.get('namespace', '')} {what.get('name', '')}".strip()
        if dims:
            line += f" ({dims})"
        if stat.get("stat"):
            line += f", {stat['stat']} over {stat.get('period', '?')} s"
        lines.append(line)
    return "\n".join(lines)
