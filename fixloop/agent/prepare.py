"""Prepare: decide the loop's next step, one decision at a time.

Prepare runs before every turn. Its decisions, in order (the first that applies wins):

1. :func:`stop_if_closed`: the investigation was closed from outside: stop.
2. :func:`~fixloop.agent.verify.rerouted`: the Map just verified a proposed fix: the same
   turn again, whose Route reads the verification (no turn boundary: the inbox waits; no
   model call, so no limit or budget is checked).
3. :func:`park_if_over_limits`: over its turn limit or a budget: park with a notice, stop.
4. :func:`continue_as_new_if_due`: this execution has run enough turns, or its history nears
   the limit: start the next generation.
5. :func:`gather_context_if_first`: before turn 1, the calls fixloop makes itself.
6. :func:`advance`: otherwise the next turn, after :func:`announce_start` (turn 1 only) and
   :func:`move_inbox` (people's messages enter the log at the turn boundary), with the note
   of the budget left (:func:`~fixloop.agent.budget.budget_note`) as the turn's last input.

Each is a function of the payload and the log, so a retried Prepare decides the same.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger

from fixloop.agent.budget import budget_note, over_budget
from fixloop.agent.context import initial_calls
from fixloop.agent.toolset import map_items
from fixloop.agent.verify import rerouted
from fixloop.config import Settings, get_settings
from fixloop.conversation import Announcer, awaited, drain
from fixloop.domain import clean_title
from fixloop.domain.events import (
    AssistantMessage,
    ContextGathering,
    Note,
    SignalReceived,
    StatusChanged,
    assistant_position,
    context_position,
    note_position,
    outcome_position,
    signal_position,
)
from fixloop.domain.investigation import Investigation, LoopState, execution_name
from fixloop.store import EventNotFound, stores
from fixloop.tools.results import record_result

__all__ = [
    "TOOL_CALL_HISTORY_EVENTS",
    "TURN_HISTORY_EVENTS",
    "advance",
    "announce_start",
    "continue_as_new_if_due",
    "gather_context_if_first",
    "move_inbox",
    "over_budget",
    "park_if_over_limits",
    "prepare",
    "stop_if_closed",
]

logger = Logger(child=True)

# History events one turn adds, counted on executions: 18 for Prepare, Model Turn, the two
# Choices and the Map, plus 9 per tool call (iteration start and end, the Runs In choice's
# two, the task's five; a sandbox call's heartbeats add none).
# Doubled as headroom for retries, which add three events per attempt.
TURN_HISTORY_EVENTS = 2 * 18
TOOL_CALL_HISTORY_EVENTS = 2 * 9


def prepare(state: LoopState, *, announce: Announcer) -> LoopState:
    """Decide what the next step is: another model turn, a new generation, or stop."""
    settings = get_settings()
    inv = stores().investigations.get(state.investigation_id)
    base = _carried(state, settings)
    return (
        stop_if_closed(inv, base)
        or rerouted(state, base)
        or park_if_over_limits(inv, base, settings)
        or continue_as_new_if_due(base, settings)
        or gather_context_if_first(state, base)
        or advance(inv, base, announce=announce)
    )


def _carried(state: LoopState, settings: Settings) -> LoopState:
    """The payload every decision starts from: counters carried over, the history estimate
    grown by the step that just ended, and the settings the ASL reads."""
    start = state.turn if state.generation_start_turn is None else state.generation_start_turn
    history = (
        state.history_events
        + TURN_HISTORY_EVENTS
        + TOOL_CALL_HISTORY_EVENTS * len(state.tool_calls)
    )
    return LoopState(
        investigation_id=state.investigation_id,
        generation=state.generation,
        turn=state.turn,
        generation_start_turn=start,
        history_events=history,
        tool_concurrency=settings.tool_concurrency,
        sandbox_heartbeat_seconds=settings.sandbox_heartbeat_seconds,
        human_timeout_seconds=settings.human_timeout_seconds,
    )


def stop_if_closed(inv: Investigation, base: LoopState) -> LoopState | None:
    if inv.is_open:
        return None
    return base.model_copy(update={"action": "stop"})


def park_if_over_limits(
    inv: Investigation, base: LoopState, settings: Settings
) -> LoopState | None:
    """Park at the turn limit or over a token, cost or time budget, with a notice."""
    over = over_budget(inv)
    if base.turn < settings.max_turns and not over:
        return None
    reason = over or f"turn limit reached ({settings.max_turns} turns)"
    st = stores()
    st.events.append(
        inv.investigation_id,
        outcome_position(base.turn, "status"),
        StatusChanged(status="parked", reason=reason),
    )
    st.investigations.close(inv.investigation_id, "parked", reason)
    return base.model_copy(update={"action": "stop"})


def continue_as_new_if_due(base: LoopState, settings: Settings) -> LoopState | None:
    """Start the next generation after ``max_turns_per_generation`` turns of this execution,
    or before its estimated history reaches ``max_history_events``."""
    start = base.generation_start_turn if base.generation_start_turn is not None else base.turn
    if (
        base.turn - start < settings.max_turns_per_generation
        and base.history_events < settings.max_history_events
    ):
        return None
    nxt = base.generation + 1
    logger.info("continuing as new", extra={"generation": nxt, "turn": base.turn})
    return base.model_copy(
        update={
            "action": "continue",
            "next_generation": nxt,
            "next_execution_name": execution_name(base.investigation_id, nxt),
        }
    )


def gather_context_if_first(state: LoopState, base: LoopState) -> LoopState | None:
    """Before turn 1 (once: the next Prepare comes back with action ``gather``), the calls
    fixloop makes itself, listed in the log (a retry finds the first list) and run by the
    Run Tools Map like the model's; None when there is nothing to gather."""
    if state.turn != 0 or state.action == "gather":
        return None
    st = stores()
    investigation_id = state.investigation_id
    listed = st.events.get(investigation_id, context_position())
    if not isinstance(listed, ContextGathering):
        signal = st.events.get(investigation_id, signal_position())
        if not isinstance(signal, SignalReceived):
            raise EventNotFound(investigation_id, signal_position())
        calls = initial_calls(st.investigations.get(investigation_id), signal.signal)
        if not calls:
            return None
        listed = ContextGathering(calls=calls)
        if not st.events.append(investigation_id, context_position(), listed):
            again = st.events.get(investigation_id, context_position())
            assert isinstance(again, ContextGathering)
            listed = again
    return base.model_copy(update={"action": "gather", "tool_calls": map_items(listed.calls)})


def advance(inv: Investigation, base: LoopState, *, announce: Announcer) -> LoopState:
    """Go on to the next turn: announce the start, move the inbox, record the progress."""
    turn = base.turn + 1
    announce_start(inv, turn, announce)
    move_inbox(inv.investigation_id, base.turn, turn)
    note = Note(turn=turn, kind="budget", text=budget_note(inv, turn))
    stores().events.append(inv.investigation_id, note_position(turn, "budget"), note)
    stores().investigations.record_progress(
        inv.investigation_id, generation=base.generation, turn=turn
    )
    return base.model_copy(update={"turn": turn, "action": "model"})


def announce_start(inv: Investigation, turn: int, announce: Announcer) -> None:
    if turn == 1:
        announce(inv, key="start", text=f"Started investigating: {clean_title(inv.title)}")


def move_inbox(investigation_id: str, previous_turn: int, turn: int) -> None:
    """Give the next turn the messages that arrived: the first answers the call the previous
    turn waited on, if it waited (every tool_use gets its tool_result)."""
    asked = None
    if previous_turn > 0:
        message = stores().events.get(investigation_id, assistant_position(previous_turn))
        asked = (
            awaited(investigation_id, message) if isinstance(message, AssistantMessage) else None
        )
    moved = drain(investigation_id, turn, reply_to=asked.id if asked else "")
    if asked and not moved:
        # Resumed with nothing to read (only an operator can do that): say so to the model.
        record_result(
            investigation_id,
            previous_turn,
            asked,
            "No reply arrived.",
            is_error=True,
            by_fixloop=True,
        )
