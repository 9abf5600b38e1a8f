"""Run Tool: one tool call, its own durable task. Results go straight into the log."""

from __future__ import annotations

import time
from functools import lru_cache

from aws_lambda_powertools import Logger

from fixloop.config import get_settings
from fixloop.domain import Investigation, Signal
from fixloop.domain.events import (
    SignalReceived,
    ToolResult,
    signal_position,
    tool_result_position,
)
from fixloop.domain.investigation import ToolTask
from fixloop.errors import ToolFailed
from fixloop.store import EventNotFound, stores
from fixloop.tools import ToolContext, cap_output, default_registry

logger = Logger(child=True)


def run_tool(task: ToolTask) -> dict[str, object]:
    """Run the call once. A retry that finds its result stored returns without running it."""
    st = stores()
    pos = tool_result_position(task.turn, task.index)
    if st.events.get(task.investigation_id, pos) is not None:
        return {"tool_use_id": task.tool_use_id, "ran": False}
    use = st.events.tool_use(task.investigation_id, task.turn, task.tool_use_id)
    name = str(use.get("name"))
    started = time.monotonic()
    if task.error is not None:
        content, is_error = _failure_text(task.error), True
    else:
        content, is_error = _execute(task, name, use.get("input"))
    result = ToolResult(
        turn=task.turn,
        tool_use_id=task.tool_use_id,
        name=name,
        content=content,
        is_error=is_error,
        duration_ms=int((time.monotonic() - started) * 1000),
    )
    st.events.append(task.investigation_id, pos, result)
    return {"tool_use_id": task.tool_use_id, "ran": True, "is_error": is_error}


def _execute(task: ToolTask, name: str, raw_input: object) -> tuple[str, bool]:
    registry = default_registry()
    tool = registry.get(name)
    if tool is None:
        available = ", ".join(sorted(registry.names))
        return f"unknown tool {name!r}; available tools: {available}", True
    if tool.run is None:
        try:
            tool.parse_input(raw_input)
        except ToolFailed as exc:
            return str(exc), True
        if tool.asks_human:
            return f"{name} waits for a reply: call it alone.", True
        return f"{name} concludes the investigation: call it alone, with valid input.", True
    investigation, signal = _fixed_facts(task.investigation_id)
    ctx = ToolContext(
        investigation=investigation,
        signal=signal,
        max_output_chars=get_settings().max_tool_output_chars,
    )
    logger.info("running tool", extra={"tool": name, "tool_use_id": task.tool_use_id})
    try:
        args = tool.parse_input(raw_input)
        return cap_output(tool.run(ctx, args), ctx.max_output_chars), False
    except ToolFailed as exc:
        return str(exc), True


@lru_cache(maxsize=64)
def _fixed_facts(investigation_id: str) -> tuple[Investigation, Signal]:
    """The investigation and its signal, cached per warm container.

    Tools read only what never changes after the start (repo, commit, signal), so a cached
    copy is as good as a fresh one and saves two reads per tool call.
    """
    st = stores()
    signal_event = st.events.get(investigation_id, signal_position())
    if not isinstance(signal_event, SignalReceived):
        raise EventNotFound(investigation_id, signal_position())
    return st.investigations.get(investigation_id), signal_event.signal


def _failure_text(error: dict[str, object]) -> str:
    cause = str(error.get("Cause", ""))
    first = cause.strip().splitlines()[0] if cause.strip() else ""
    return f"the tool could not run after retries: {error.get('Error', 'error')}: {first}"[:2000]
