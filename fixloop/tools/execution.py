"""One way to run a tool call: run it once, time it, cap it, and record its result.

:func:`run_call` runs a call against a registry and a context, touching no table: the
sandbox runs its code tools with it. :func:`execute` is the Run Tool Lambda's whole step:
find the call in the log, :func:`run_call`, record. The sandbox's results are recorded by
:func:`record_result_of` on the trusted side, failures after retries by
:func:`record_failure`; all of them write through :mod:`fixloop.tools.results`.
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
from fixloop.tools.registry import ToolContext, ToolRegistry, cap_output
from fixloop.tools.results import has_result, record_result

__all__ = [
    "Executed",
    "Journal",
    "Outcome",
    "execute",
    "find_call",
    "record_failure",
    "record_result_of",
    "run_call",
]

logger = Logger(child=True)


@dataclass(frozen=True)
class Outcome:
    """What running a call produced."""

    content: str
    is_error: bool
    duration_ms: int = 0
    mutating: bool = False
    """The call changed the workspace (the sandbox saved a snapshot before answering)."""


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
        """Journal a mutating call durably, before its result leaves the sandbox."""


def find_call(investigation_id: str, turn: int, index: int, tool_use_id: str) -> Call:
    """The call as the turn made it (turn 0: the calls fixloop makes itself)."""
    use = stores().events.tool_use(investigation_id, turn, tool_use_id)
    return Call(index=index, id=tool_use_id, name=str(use.get("name")), input=use.get("input"))


def run_call(
    call: Call,
    *,
    registry: ToolRegistry,
    context: Callable[[], ToolContext],
    journal: Journal | None = None,
    key: str = "",
) -> Outcome:
    """Run the call once. With a ``journal``, a mutating call already applied returns its
    journaled result instead of running again; ``key`` names the call in the journal."""
    started = time.monotonic()
    tool = registry.get(call.name)
    mutating = tool is not None and tool.mutating
    journaled = journal.applied(key) if journal is not None else None
    if journaled is not None:
        logger.info("call already applied; returning its journaled result")
        content, is_error = journaled
    else:
        content, is_error = _run(call, registry, context)
        if journal is not None and mutating:
            journal.record(key, content, is_error)
    return Outcome(content, is_error, int((time.monotonic() - started) * 1000), mutating)


def execute(
    investigation_id: str,
    turn: int,
    index: int,
    tool_use_id: str,
    *,
    registry: ToolRegistry,
    context: Callable[[], ToolContext],
    first_attempt: bool = False,
) -> Executed:
    """Run Tool: run the call once and record its result. A call whose result is stored is
    not run again (a retried task).

    ``first_attempt``: the task is on its first attempt (Step Functions' retry count 0), so
    no earlier attempt stored a result and the lookup is skipped. A redriven execution also
    starts at 0: the call then runs again and its result loses to the stored one (first
    writer wins), which is the at-least-once a read-only tool allows."""
    if not first_attempt and has_result(investigation_id, turn, index):
        return Executed(ran=False)
    call = find_call(investigation_id, turn, index, tool_use_id)
    return record_result_of(
        investigation_id, turn, call, run_call(call, registry=registry, context=context)
    )


def record_result_of(investigation_id: str, turn: int, call: Call, outcome: Outcome) -> Executed:
    """Record what a call produced (first writer wins)."""
    record_result(
        investigation_id,
        turn,
        call,
        outcome.content,
        is_error=outcome.is_error,
        duration_ms=outcome.duration_ms,
    )
    return Executed(ran=True, is_error=outcome.is_error)


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
    return record_result_of(investigation_id, turn, call, Outcome(text[:2000], True))


def _run(
    call: Call, registry: ToolRegistry, context: Callable[[], ToolContext]
) -> tuple[str, bool]:
    tool = registry.get(call.name)
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
