"""The loop's steps: Prepare and Model Turn. Each is one durable Step Functions task.

A step is a function of its input payload and the event log, so a retry (after a crash
before or after its writes) returns the same answer and writes nothing twice.
"""

from __future__ import annotations

import time

from aws_lambda_powertools import Logger

from fixloop.agent.prompt import SYSTEM_PROMPT, build_messages
from fixloop.agent.stream import ChunkWriter
from fixloop.config import get_settings
from fixloop.domain.events import (
    AssistantMessage,
    StatusChanged,
    assistant_position,
    outcome_position,
)
from fixloop.domain.investigation import LoopState, ToolCallRef, execution_name
from fixloop.llm.factory import model_from_spec
from fixloop.llm.protocol import ModelRequest
from fixloop.store import stores
from fixloop.tools import Tool, default_registry
from fixloop.tools.registry import RunsIn

logger = Logger(child=True)

# History events one turn adds, counted on executions: 18 for Prepare, Model Turn, the two
# Choices and the Map, plus 9 per tool call (iteration start and end, the Runs In choice's
# two, the task's five; a sandbox call's heartbeats add none).
# Doubled as headroom for retries, which add three events per attempt.
TURN_HISTORY_EVENTS = 2 * 18
TOOL_CALL_HISTORY_EVENTS = 2 * 9


def prepare(state: LoopState) -> LoopState:
    """Decide what the next step is: another model turn, a new generation, or stop."""
    settings = get_settings()
    st = stores()
    inv = st.investigations.get(state.investigation_id)
    start = state.turn if state.generation_start_turn is None else state.generation_start_turn
    history = (
        state.history_events
        + TURN_HISTORY_EVENTS
        + TOOL_CALL_HISTORY_EVENTS * len(state.tool_calls)
    )
    base = LoopState(
        investigation_id=state.investigation_id,
        generation=state.generation,
        turn=state.turn,
        generation_start_turn=start,
        history_events=history,
        tool_concurrency=settings.tool_concurrency,
        sandbox_heartbeat_seconds=settings.sandbox_heartbeat_seconds,
    )
    if not inv.is_open:
        return base.model_copy(update={"action": "stop"})
    if state.turn >= settings.max_turns:
        reason = f"turn limit reached ({settings.max_turns} turns)"
        st.events.append(
            state.investigation_id,
            outcome_position(state.turn, "status"),
            StatusChanged(status="parked", reason=reason),
        )
        st.investigations.close(state.investigation_id, "parked", reason)
        return base.model_copy(update={"action": "stop"})
    if (
        state.turn - start >= settings.max_turns_per_generation
        or history >= settings.max_history_events
    ):
        nxt = state.generation + 1
        logger.info("continuing as new", extra={"generation": nxt, "turn": state.turn})
        return base.model_copy(
            update={
                "action": "continue",
                "next_generation": nxt,
                "next_execution_name": execution_name(state.investigation_id, nxt),
            }
        )
    turn = state.turn + 1
    st.investigations.record_progress(
        state.investigation_id, generation=state.generation, turn=turn
    )
    return base.model_copy(update={"turn": turn, "action": "model"})


def model_turn(state: LoopState) -> LoopState:
    """Run turn ``state.turn`` once: reuse its assistant message if a retry finds it stored."""
    st = stores()
    inv_id = state.investigation_id
    pos = assistant_position(state.turn)
    stored = st.events.get(inv_id, pos)
    if isinstance(stored, AssistantMessage):
        message = stored
    else:
        message = _call_model(state)
        if not st.events.append(inv_id, pos, message):
            again = st.events.get(inv_id, pos)
            assert isinstance(again, AssistantMessage)
            message = again
    return route(state, message)


def _call_model(state: LoopState) -> AssistantMessage:
    settings = get_settings()
    st = stores()
    registry = default_registry()
    inv = st.investigations.get(state.investigation_id)
    model = model_from_spec(inv.model, known_tools=registry.names)
    request = ModelRequest(
        system=SYSTEM_PROMPT,
        messages=build_messages(st.events.read(state.investigation_id)),
        tools=registry.definitions(),
        max_tokens=settings.max_tokens,
        adaptive_thinking=settings.thinking == "adaptive",
        thinking_budget=int(settings.thinking) if settings.thinking.isdigit() else None,
        turn=state.turn,
        investigation_id=state.investigation_id,
    )
    started = time.monotonic()
    if settings.stream_flush_ms > 0:
        writer = ChunkWriter(
            st.events,
            state.investigation_id,
            state.turn,
            flush_ms=settings.stream_flush_ms,
            flush_bytes=settings.stream_flush_bytes,
        )
        with writer:
            response = model.complete(request, on_delta=writer)
    else:
        response = model.complete(request)
    return AssistantMessage(
        turn=state.turn,
        content=response.content,
        stop_reason=response.stop_reason,
        model=response.model,
        usage=response.usage.model_dump(),
        duration_ms=int((time.monotonic() - started) * 1000),
    )


def conclusion(message: AssistantMessage) -> tuple[Tool, dict[str, object]] | None:
    """The first terminal tool call with valid input, if the turn concluded."""
    registry = default_registry()
    for use in message.tool_uses():
        tool = registry.get(str(use.get("name")))
        if tool is not None and tool.terminal:
            try:
                tool.parse_input(use.get("input"))
            except Exception:  # invalid input: it runs as a tool and the model sees the error
                continue
            return tool, dict(use.get("input") or {})
    return None


def _runs_in(tool: Tool | None) -> RunsIn:
    return tool.runs_in if tool is not None else "lambda"  # unknown: Run Tool says so


def route(state: LoopState, message: AssistantMessage) -> LoopState:
    """Deliver when the model concluded (or ended its turn without tools); else run tools."""
    uses = message.tool_uses()
    if conclusion(message) is not None or not uses:
        return state.model_copy(update={"action": "deliver", "tool_calls": []})
    registry = default_registry()
    calls = [
        ToolCallRef(id=str(u["id"]), runs_in=_runs_in(registry.get(str(u["name"])))) for u in uses
    ]
    return state.model_copy(update={"action": "tools", "tool_calls": calls})
