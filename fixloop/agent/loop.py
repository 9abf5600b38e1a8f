"""The loop's steps: Prepare and Model Turn. Each is one durable Step Functions task.

A step is a function of its input payload and the event log, so a retry (after a crash
before or after its writes) returns the same answer and writes nothing twice.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger

from fixloop.agent.compaction import fit_context
from fixloop.agent.context import initial_calls
from fixloop.agent.inbox import drain
from fixloop.agent.prompt import SYSTEM_PROMPT
from fixloop.agent.stream import ChunkWriter
from fixloop.agent.transcript import read_transcript
from fixloop.channels.outbound import announce
from fixloop.config import get_settings
from fixloop.cost import investigation_usage, model_cost, model_id_of
from fixloop.domain.events import (
    AssistantMessage,
    CompactionSummary,
    ContentBlock,
    ContextGathering,
    SignalReceived,
    StatusChanged,
    ToolResult,
    assistant_position,
    compaction_position,
    context_position,
    outcome_position,
    signal_position,
    tool_result_position,
)
from fixloop.domain.investigation import Investigation, LoopState, ToolCallRef, execution_name
from fixloop.domain.signal import utcnow
from fixloop.llm.factory import model_from_spec
from fixloop.llm.protocol import ModelRequest, Usage
from fixloop.metrics import record_usage
from fixloop.store import EventNotFound, stores
from fixloop.tools import Tool, default_registry
from fixloop.tools.registry import RunsIn

logger = Logger(child=True)

HUMAN_TOOLS = frozenset({"ask_human"})
"""Tools that can make the loop wait on a person: with one, cache entries live an hour."""

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
        human_timeout_seconds=settings.human_timeout_seconds,
    )
    if not inv.is_open:
        return base.model_copy(update={"action": "stop"})
    over = over_budget(inv)
    if state.turn >= settings.max_turns or over:
        reason = over or f"turn limit reached ({settings.max_turns} turns)"
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
    if state.turn == 0 and state.action != "gather":
        calls = _gather_context(state.investigation_id)
        if calls:
            return base.model_copy(update={"action": "gather", "tool_calls": calls})
    turn = state.turn + 1
    if turn == 1:
        announce(inv, key="start", text=f"Started investigating: {inv.title}")
    _move_inbox(state.investigation_id, state.turn, turn)
    st.investigations.record_progress(
        state.investigation_id, generation=state.generation, turn=turn
    )
    return base.model_copy(update={"turn": turn, "action": "model"})


def _gather_context(investigation_id: str) -> list[ToolCallRef]:
    """List the calls to make before turn 1 (once: a retry finds the first list) and return
    them as Map items; the next Prepare (action "gather") goes on to turn 1."""
    st = stores()
    listed = st.events.get(investigation_id, context_position())
    if not isinstance(listed, ContextGathering):
        signal = st.events.get(investigation_id, signal_position())
        if not isinstance(signal, SignalReceived):
            raise EventNotFound(investigation_id, signal_position())
        calls = initial_calls(st.investigations.get(investigation_id), signal.signal)
        if not calls:
            return []
        listed = ContextGathering(calls=calls)
        if not st.events.append(investigation_id, context_position(), listed):
            again = st.events.get(investigation_id, context_position())
            assert isinstance(again, ContextGathering)
            listed = again
    return _map_items(listed.calls)


def _move_inbox(investigation_id: str, previous_turn: int, turn: int) -> None:
    """Give the next turn the messages that arrived: the first answers the question the
    previous turn asked, if it asked one (every tool_use gets its tool_result)."""
    st = stores()
    asked = None
    if previous_turn > 0:
        message = st.events.get(investigation_id, assistant_position(previous_turn))
        asked = (
            awaited(investigation_id, message) if isinstance(message, AssistantMessage) else None
        )
    moved = drain(investigation_id, turn, reply_to=asked[1] if asked else "")
    if asked and not moved:
        # Resumed with nothing to read (only an operator can do that): say so to the model.
        index, tool_use_id = asked
        st.events.append(
            investigation_id,
            tool_result_position(previous_turn, index),
            ToolResult(
                turn=previous_turn,
                tool_use_id=tool_use_id,
                name="ask_human",
                content="No reply arrived.",
                is_error=True,
            ),
        )


def over_budget(inv: Investigation, now: datetime | None = None) -> str:
    """Why the investigation is over one of its budgets ("" if it is not)."""
    settings = get_settings()
    tokens = inv.budget_tokens if inv.budget_tokens is not None else settings.budget_tokens
    if tokens and inv.total_tokens > tokens:
        return f"token budget exceeded ({inv.total_tokens:,} tokens used, budget {tokens:,})"
    dollars = inv.budget_cost_usd if inv.budget_cost_usd is not None else settings.budget_cost_usd
    if dollars:
        spent = model_cost(model_id_of(inv.model), investigation_usage(inv))
        if spent > dollars:
            return f"cost budget exceeded (${spent:.2f} of model tokens, budget ${dollars:.2f})"
    wall = (
        inv.budget_wall_seconds
        if inv.budget_wall_seconds is not None
        else settings.budget_wall_seconds
    )
    if wall:
        elapsed = ((now or utcnow()) - inv.created_at).total_seconds()
        if elapsed > wall:
            return f"time budget exceeded ({elapsed:,.0f} s open, budget {wall:,} s)"
    return ""


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
        record_usage(message.usage)
        if not st.events.append(inv_id, pos, message):
            again = st.events.get(inv_id, pos)
            assert isinstance(again, AssistantMessage)
            message = again
    _count_usage(inv_id, state.turn, message)
    return route(state, message)


def _count_usage(investigation_id: str, turn: int, message: AssistantMessage) -> None:
    """Add the turn's usage (its compaction's too) to the record's counters, once."""
    st = stores()
    usage = Usage.model_validate(message.usage)
    compactions = 0
    context_from = ""
    for what in ("cleared", "summary"):
        event = st.events.get(investigation_id, compaction_position(turn, what))
        if event is not None:
            compactions += 1
        if isinstance(event, CompactionSummary):
            usage = usage + Usage.model_validate(event.usage)
            context_from = event.through
    st.investigations.record_usage(
        investigation_id,
        turn=turn,
        tokens={
            "tokens_input": usage.input_tokens,
            "tokens_output": usage.output_tokens,
            "tokens_cache_write": usage.cache_creation_input_tokens,
            "tokens_cache_write_1h": usage.cache_creation_1h_input_tokens,
            "tokens_cache_read": usage.cache_read_input_tokens,
        },
        compactions=compactions,
        context_from=context_from,
    )


def _call_model(state: LoopState) -> AssistantMessage:
    settings = get_settings()
    st = stores()
    registry = default_registry()
    inv = st.investigations.get(state.investigation_id)
    model = model_from_spec(inv.model, known_tools=registry.names)
    ttl = settings.prompt_cache_ttl
    if ttl == "auto":
        ttl = "1h" if HUMAN_TOOLS & registry.names else "5m"

    def make(messages: list[dict[str, Any]]) -> ModelRequest:
        return ModelRequest(
            system=SYSTEM_PROMPT,
            messages=messages,
            tools=registry.definitions(),
            max_tokens=settings.max_tokens,
            adaptive_thinking=settings.thinking == "adaptive",
            thinking_budget=int(settings.thinking) if settings.thinking.isdigit() else None,
            turn=state.turn,
            investigation_id=state.investigation_id,
            cache_ttl="1h" if ttl == "1h" else "5m",
        )

    # The latest summary replaced everything up to context_from: read only what follows.
    after = inv.context_from or None
    events = read_transcript(state.investigation_id, after=after, turn=state.turn)
    request = fit_context(model, state.investigation_id, state.turn, events, make)
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


def _map_items(uses: list[ContentBlock]) -> list[ToolCallRef]:
    """The Run Tools Map's items: each call's id and where it runs (unknown tools run in
    Run Tool, which tells the model so)."""
    registry = default_registry()
    items = []
    for use in uses:
        tool = registry.get(str(use["name"]))
        runs_in: RunsIn = tool.runs_in if tool is not None else "lambda"
        items.append(ToolCallRef(id=str(use["id"]), runs_in=runs_in))
    return items


def question(message: AssistantMessage) -> tuple[int, str] | None:
    """The index and id of the turn's first ``ask_human`` call with valid input."""
    registry = default_registry()
    for index, use in enumerate(message.tool_uses()):
        tool = registry.get(str(use.get("name")))
        if tool is not None and tool.asks_human:
            try:
                tool.parse_input(use.get("input"))
            except Exception:  # invalid input: it runs as a tool and the model sees the error
                continue
            return index, str(use["id"])
    return None


def awaited(investigation_id: str, message: AssistantMessage) -> tuple[int, str] | None:
    """The call of the turn that waits for a person's reply: its ``ask_human``, or its
    ``open_pull_request`` held for approval; None if the turn has none, or it has its
    result already (a deferred conclusion)."""
    found = question(message)
    if found is None:
        concluded = conclusion(message)
        if concluded is None or concluded[0].name != "open_pull_request":
            return None
        found = next(
            (i, str(u["id"]))
            for i, u in enumerate(message.tool_uses())
            if u.get("name") == "open_pull_request"
        )
    if stores().events.get(investigation_id, tool_result_position(message.turn, found[0])):
        return None
    return found


def approval_required(investigation_id: str) -> bool:
    inv = stores().investigations.get(investigation_id)
    return (
        inv.require_approval
        if inv.require_approval is not None
        else get_settings().require_approval
    )


def _answer_unrun(
    state: LoopState, message: AssistantMessage, text: str, *, keep: int | None = None
) -> None:
    """Give every tool call of the turn (but ``keep``) a result saying why it did not run,
    so the transcript stays valid (each tool_use answered by a tool_result)."""
    st = stores()
    for index, use in enumerate(message.tool_uses()):
        if index == keep:
            continue
        st.events.append(
            state.investigation_id,
            tool_result_position(state.turn, index),
            ToolResult(
                turn=state.turn,
                tool_use_id=str(use["id"]),
                name=str(use.get("name")),
                content=text,
                is_error=True,
            ),
        )


def route(state: LoopState, message: AssistantMessage) -> LoopState:
    """Deliver when the model concluded (or ended its turn without tools), unless messages
    arrived that it has not read; wait for a person when it asked one; else run tools."""
    uses = message.tool_uses()
    if conclusion(message) is not None or not uses:
        if stores().inbox.has_pending(state.investigation_id):
            _answer_unrun(
                state,
                message,
                "Not concluded: new messages arrived, which follow. Read them, then "
                "conclude again.",
            )
            return state.model_copy(update={"action": "tools", "tool_calls": []})
        concluded = conclusion(message)
        if (
            concluded is not None
            and concluded[0].name == "open_pull_request"
            and approval_required(state.investigation_id)
        ):
            index = next(i for i, u in enumerate(uses) if u.get("name") == "open_pull_request")
            _answer_unrun(
                state,
                message,
                "Not run: open_pull_request waits for approval; call it alone.",
                keep=index,
            )
            return state.model_copy(update={"action": "approve", "tool_calls": []})
        return state.model_copy(update={"action": "deliver", "tool_calls": []})
    asked = question(message)
    if asked is not None:
        _answer_unrun(
            state, message, "Not run: ask_human waits for a reply; call it alone.", keep=asked[0]
        )
        return state.model_copy(update={"action": "ask_human", "tool_calls": []})
    return state.model_copy(update={"action": "tools", "tool_calls": _map_items(uses)})
