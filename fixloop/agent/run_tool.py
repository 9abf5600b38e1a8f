"""Run Tool: one tool call that runs in Lambda (telemetry, the signal), its own durable task.

Runs through the one execution path (:mod:`fixloop.tools.execution`); a retry whose call has
its result stored does not run it again (a first attempt, ``attempt`` 0, cannot find one and
does not look). Two more states of the Map come here, so one function writes every result a
Map item produces: Record Sandbox Result (the sandbox answered: its result is read back from
the key this side derives, bounded, and recorded) and Record Tool Failure (the call failed
after its retries: the model sees why). A verification item's report becomes the turn's
Verification event (:mod:`fixloop.agent.verify`).
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import ValidationError

from fixloop.agent.toolset import default_registry
from fixloop.agent.verify import is_verification, record_verification
from fixloop.config import get_settings
from fixloop.domain import Investigation, Signal
from fixloop.domain.events import SignalReceived, signal_position, tool_result_position
from fixloop.domain.investigation import ToolTask
from fixloop.sandbox.protocol import SandboxResult, result_key
from fixloop.store import EventNotFound, stores
from fixloop.tools import ToolContext, cap_output
from fixloop.tools.execution import (
    Executed,
    Outcome,
    execute,
    find_call,
    record_failure,
    record_result_of,
)
from fixloop.tools.results import has_result

__all__ = ["run_tool"]


def run_tool(task: ToolTask) -> dict[str, object]:
    """Run the call once (or record its failure). ``ran`` is False when a retry found the
    result already stored."""
    if is_verification(task.tool_use_id):
        done = record_verification(task)  # a Verification event, not a tool result
    elif task.error is not None:
        done = record_failure(
            task.investigation_id, task.turn, task.index, task.tool_use_id, task.error
        )
    elif task.sandbox is not None:
        done = record_sandbox_result(task)
    else:
        done = execute(
            task.investigation_id,
            task.turn,
            task.index,
            task.tool_use_id,
            registry=default_registry(),
            context=lambda: _context(task.investigation_id),
            first_attempt=task.attempt == 0,
        )
    if not done.ran:
        return {"tool_use_id": task.tool_use_id, "ran": False}
    return {"tool_use_id": task.tool_use_id, "ran": True, "is_error": done.is_error}


def _context(investigation_id: str) -> ToolContext:
    investigation, signal = _fixed_facts(investigation_id)
    return ToolContext(
        investigation=investigation,
        signal=signal,
        max_output_chars=get_settings().max_tool_output_chars,
    )


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


def record_sandbox_result(task: ToolTask) -> Executed:
    """Record what the sandbox put for this call. The sandbox is untrusted: the key is
    derived here, the size bounded, the content capped like any tool output."""
    if has_result(task.investigation_id, task.turn, task.index):
        return Executed(ran=False)
    call = find_call(task.investigation_id, task.turn, task.index, task.tool_use_id)
    limit = get_settings().max_tool_output_chars
    key = result_key(task.investigation_id, tool_result_position(task.turn, task.index))
    try:
        data = stores().blobs.get_if_exists(key, max_bytes=8 * limit + 4096)
        result = SandboxResult.model_validate_json(data) if data is not None else None
    except (ValueError, ValidationError) as exc:
        result = SandboxResult(
            content=f"the sandbox's result was refused: {exc}"[:500], is_error=True
        )
    if result is None:
        result = SandboxResult(content="the sandbox answered without a result", is_error=True)
    outcome = Outcome(cap_output(result.content, limit), result.is_error, result.duration_ms)
    return record_result_of(task.investigation_id, task.turn, call, outcome)
