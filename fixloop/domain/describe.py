"""Log events as short lines a person can follow: the CLI's progress, MCP's text reads."""

from __future__ import annotations

import json

from fixloop.domain.events import (
    AftercareNote,
    AssistantMessage,
    CompactionSummary,
    ContextGathering,
    Delivered,
    Event,
    Failed,
    SignalReceived,
    StatusChanged,
    ToolResult,
    ToolResultsCleared,
    UserMessage,
    Verification,
)

WIDTH = 110


def describe(ev: Event) -> list[str]:
    if isinstance(ev, SignalReceived):
        return [f"signal     {ev.signal.title}"]
    if isinstance(ev, UserMessage):
        return [f"message    {ev.author} via {ev.channel}: {_short(ev.text)}"]
    if isinstance(ev, AssistantMessage):
        lines = []
        for block in ev.content:
            kind = block.get("type")
            if kind == "thinking":
                lines.append(
                    f"turn {ev.turn:<4} thinking  {_short(str(block.get('thinking', '')))}"
                )
            elif kind == "text" and str(block.get("text", "")).strip():
                lines.append(f"turn {ev.turn:<4} says      {_short(str(block['text']))}")
            elif kind == "tool_use":
                args = json.dumps(block.get("input", {}), sort_keys=True)
                lines.append(f"turn {ev.turn:<4} calls     {block.get('name')} {_short(args, 70)}")
        return lines
    if isinstance(ev, ContextGathering):
        names = ", ".join(str(call.get("name")) for call in ev.calls)
        return [f"context    gathering {names} for the first prompt"]
    if isinstance(ev, ToolResult):
        mark = "error" if ev.is_error else "ok"
        where = "context   " if ev.turn == 0 else f"turn {ev.turn:<4} result   "
        return [f"{where} {ev.name} [{mark}] {_short(_gist(ev.content), 70)}"]
    if isinstance(ev, CompactionSummary):
        return [f"compacted  {_short(ev.summary)}"]
    if isinstance(ev, ToolResultsCleared):
        return [f"compacted  cleared {ev.cleared} older tool results"]
    if isinstance(ev, Delivered):
        what = "pull request" if ev.kind == "pull_request" else "summary"
        files = ev.diff.count("\ndiff --git ") + ev.diff.startswith("diff --git ")
        change = f" ({files} file{'s' if files != 1 else ''} changed)" if files else ""
        return [f"delivered  {what}: {ev.title}{change}"]
    if isinstance(ev, Verification):
        report = ev.report
        verdict = "verified" if report.verified else "not verified"
        yes = {True: "yes", False: "no"}
        return [
            f"verify     {verdict}: reproduced {yes[report.reproduced]}, fixed "
            f"{yes[report.fixed]} ({report.duration_ms / 1000:.1f} s): {_short(report.reason, 60)}"
        ]
    if isinstance(ev, Failed):
        return [f"failed     {ev.error}: {_short(ev.cause)}"]
    if isinstance(ev, StatusChanged):
        return [f"status     {ev.status}"]
    if isinstance(ev, AftercareNote):
        return [f"aftercare  {ev.kind}: {_short(ev.text)}"]
    return []


def _gist(content: str) -> str:
    """The line that says most: for a command, its exit code and its last line of output."""
    lines = [ln for ln in content.strip().splitlines() if ln.strip()]
    if not lines:
        return ""
    if lines[0].startswith("$ ") and len(lines) > 1:
        return f"{lines[1]}: {lines[-1]}" if len(lines) > 2 else lines[1]
    return lines[0]


def _short(text: str, width: int = WIDTH - 22) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
