"""Run Tool: one tool call that runs in Lambda (telemetry, the signal), its own durable task.

Runs through the one execution path (:mod:`fixloop.tools.execution`); a retry whose call has
its result stored does not run it again (a first attempt, ``attempt`` 0, cannot find one and
does not look). Record Tool Failure (the call failed after its retries) comes here too, with
the error, and answers the call with it.
"""

from __future__ import annotations

from functools import lru_cache

from fixloop.agent.toolset import default_registry
from fixloop.config import get_settings
from fixloop.domain import Investigation, Signal
from fixloop.domain.events import SignalReceived, signal_position
from fixloop.domain.investigation import ToolTask
from fixloop.store import EventNotFound, stores
from fixloop.tools import ToolContext
from fixloop.tools.execution import execute, record_failure

__all__ = ["run_tool"]


def run_tool(task: ToolTask) -> dict[str, object]:
    """Run the call once (or record its failure). ``ran`` is False when a retry found the
    result already stored."""
    if task.error is not None:
        done = record_failure(
            task.investigation_id, task.turn, task.index, task.tool_use_id, task.error
        )
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
