"""One way to run a tool call: find it in the log, run it once, time it, record its result.

The Run Tool Lambda (telemetry and the signal) and the sandbox (code tools) both run calls
through :func:`execute`; they differ only in the registry they look tools up in, the context
they give a tool, and (the sandbox) a :class:`Journal` that keeps mutating calls from being
applied twice when a sandbox is replaced mid-call.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from aws_lambda_powertools import Logger

from fixloop.errors import ToolFailed
from fixloop.store import stores
from fixloop.tools.calls import Call
from fixloop.tools.registry import Tool, ToolContext, ToolRegistry, cap_output
from fixloop.tools.results import has_result, record_result

__all__ = ["Executed", "Journal", "execute", "find_call", "record_failure"]

logger = Logger(child=True)


@dataclass(frozen=True)
class Executed:
    """What became of a call: ``ran`` False when its result was already in the log."""

    ran: bool
    is_error: bool = False


class Journal(Protocol):
    """Where the sandbox keeps the results of the mutating calls it applied."""

    def applied(self, key: str) -> tuple[str, bool] | None:
        """The journaled (content, is_error) of call ``key``, if it was applied."""

    def record(self, key: str, content: str, is_error: bool) -> None:
        """Journal a mutating call durably, before its result is written to the log."""


def find_call(investigation_id: str, turn: int, index: int, tool_use_id: str) -> Call:
    """The call as the turn made it (turn 0: the calls fixloop makes itself)."""
    use = stores().events.tool_use(investigation_id, turn, tool_use_id)
    return Call(index=index, id=tool_use_id, name=str(use.get("name")), input=use.get("input"))


def execute(
    investigation_id: str,
    turn: int,
    index: int,
    tool_use_id: str,
    *,
    registry: ToolRegistry,
    context: Callable[[], ToolContext],
    journal: Journal | None = None,
    key: str = "",
    first_attempt: bool = False,
) -> Executed:
    """Run the call once and record its result. A call whose result is stored is not run
    again (a retried task); with a ``journal``, a mutating call already applied returns its
    journaled result instead of running. ``key`` names the call in the journal.

    ``first_attempt``: the task is on its first attempt (Step Functions' retry count 0), so
    no earlier attempt stored a result and the lookup is skipped. A redriven execution also
    starts at 0: the call then runs again and its result loses to the stored one (first
    writer wins), which is the at-least-once a read-only tool allows."""
    if not first_attempt and has_result(investigation_id, turn, index):
        return Executed(ran=False)
    call = find_call(investigation_id, turn, index, tool_use_id)
    started = time.monotonic()
    journaled = journal.applied(key) if journal is not None else None
    if journaled is not None:
        logger.info("call already applied; returning its journaled result")
        content, is_error = journaled
    else:
        tool = registry.get(call.name)
        content, is_error = _run(tool, call, registry, context)
        if journal is not None and tool is not None and tool.mutating:
            journal.record(key, content, is_error)
    record_result(
        investigation_id,
        turn,
        call,
        content,
        is_error=is_error,
        duration_ms=int((time.monotonic() - started) * 1000),
    )
    return Executed(ran=True, is_error=is_error)


def record_failure(
    investigation_id: str, turn: int, index: int, tool_use_id: str, error: dict[str, object]
) -> Executed:
    """Record Tool Failure: the call failed after its retries; the model sees why."""
    if has_result(investigation_id, turn, index):
        return Executed(ran=False)
    call = find_call(investigation_id, turn, index, tool_use_id)
    cause = str(error.get("Cause", ""))
    first = cause.strip().splitlines()[0] if cause.strip() else ""
    text = f"the tool could not run after retries: {error.get('Error', 'error')}: {first}"
    record_result(investigation_id, turn, call, text[:2000], is_error=True)
    return Executed(ran=True, is_error=True)


def _run(
    tool: Tool | None, call: Call, registry: ToolRegistry, context: Callable[[], ToolContext]
) -> tuple[str, bool]:
    if tool is None:
        available = ", ".join(sorted(registry.names))
        return f"unknown tool {call.name!r}; available tools: {available}", True
    try:
        args = tool.parse_input(call.input)
    except ToolFailed as exc:
        return str(exc), True
    if tool.run is None:
        if tool.asks_human:
            return f"{tool.name} waits for a reply: call it alone.", True
        return f"{tool.name} concludes the investigation: call it alone, with valid input.", True
    ctx = context()
    logger.info("running tool", extra={"tool": tool.name, "tool_use_id": call.id})
    try:
        return cap_output(tool.run(ctx, args), ctx.max_output_chars), False
    except ToolFailed as exc:
        return str(exc), True
