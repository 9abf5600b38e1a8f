"""Model Turn: rebuild the prompt from the log, call the model once, append its message.

A retry that finds the turn's message stored reuses it: the model is not called twice.
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools import Logger

from fixloop.agent.compaction import ContextTooLarge, fit_context
from fixloop.agent.prompt import SYSTEM_PROMPT, context_of
from fixloop.agent.request import checked
from fixloop.agent.route import route
from fixloop.agent.stream import ChunkWriter
from fixloop.agent.toolset import default_registry
from fixloop.agent.transcript import read_transcript
from fixloop.config import get_settings
from fixloop.domain.events import (
    AssistantMessage,
    CompactionSummary,
    StatusChanged,
    assistant_position,
    compaction_position,
    outcome_position,
)
from fixloop.domain.investigation import Investigation, LoopState
from fixloop.llm.factory import model_from_spec
from fixloop.llm.protocol import Model, ModelRequest, ModelResponse, Usage
from fixloop.metrics import record_usage
from fixloop.store import StoredEvent, stores
from fixloop.tools.calls import calls_of

__all__ = ["human_wait_likely", "model_turn"]

logger = Logger(child=True)


def model_turn(state: LoopState, *, attempt: int | None = None) -> LoopState:
    """Run turn ``state.turn`` once: reuse its assistant message if a retry finds it stored.

    One query reads what the turn needs (:func:`read_transcript`, from the start of the
    previous turn): the prompt's new events, and this turn's message and compaction events
    when an earlier attempt wrote them. ``attempt`` is the task's retry count, when known
    (the stream of a first attempt is claimed without a query, :class:`ChunkWriter`).
    """
    st = stores()
    inv_id = state.investigation_id
    pos = assistant_position(state.turn)
    inv = st.investigations.get(inv_id)
    # The latest summary replaced everything up to context_from: read only what follows.
    events = read_transcript(inv_id, after=inv.context_from or None, turn=state.turn)
    stored = next((e.event for e in events if e.position == pos), None)
    if isinstance(stored, AssistantMessage):
        message = stored
    else:
        try:
            message, events = _call_model(state, inv, events, attempt)
        except ContextTooLarge as exc:
            # Never send what the API would refuse as too long: park, with the reason.
            reason = f"{exc}; a person can resume it with a message once it is smaller"
            st.events.append(
                inv_id,
                outcome_position(state.turn, "status"),
                StatusChanged(status="parked", reason=reason),
            )
            st.investigations.close(inv_id, "parked", reason)
            return state.model_copy(update={"action": "tools", "tool_calls": []})
        record_usage(message.usage)
        if not st.events.append(inv_id, pos, message):
            again = st.events.get(inv_id, pos)
            assert isinstance(again, AssistantMessage)
            message = again
    _count_usage(inv_id, state.turn, message, events)
    return route(state, message)


def _count_usage(
    investigation_id: str, turn: int, message: AssistantMessage, events: list[StoredEvent]
) -> None:
    """Add the turn's usage (its compaction's too) to the record's counters, once."""
    usage = Usage.model_validate(message.usage)
    compactions = 0
    context_from = ""
    for what in ("cleared", "summary"):
        at = compaction_position(turn, what)
        event = next((e.event for e in events if e.position == at), None)
        if event is not None:
            compactions += 1
        if isinstance(event, CompactionSummary):
            usage = usage + Usage.model_validate(event.usage)
            context_from = event.through
    stores().investigations.record_usage(
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


def _call_model(
    state: LoopState, inv: Investigation, events: list[StoredEvent], attempt: int | None
) -> tuple[AssistantMessage, list[StoredEvent]]:
    """Call the model for the turn; the message, and the events its prompt was built from
    (with any compaction events written on the way)."""
    settings = get_settings()
    registry = default_registry()
    model = model_from_spec(inv.model, known_tools=registry.names)
    ttl = settings.prompt_cache_ttl
    if ttl == "auto":
        ttl = "1h" if human_wait_likely(inv, events) else "5m"

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

    request, events = fit_context(model, state.investigation_id, state.turn, events, make)
    request = request.model_copy(
        update={
            "messages": checked(request.messages, strict=settings.strict_requests, turn=state.turn),
            "drop_invalid_thinking": context_of(events).compacted_before > 0,
        }
    )
    started = time.monotonic()
    response = _complete(model, request, state, attempt)
    if response.stop_reason == "max_tokens" and request.max_tokens < settings.max_tokens_retry:
        # Cut off before it was complete: ask once more with more room (the Messages API
        # documents this as the way on; a continuation would need a prefill, which newer
        # models refuse). If it is cut off again, route tells the model to go in smaller steps.
        logger.info("reply cut off at max_tokens; asking again with more room")
        response = _complete(
            model,
            request.model_copy(update={"max_tokens": settings.max_tokens_retry}),
            state,
            attempt,
        )
    message = AssistantMessage(
        turn=state.turn,
        content=response.content,
        stop_reason=response.stop_reason,
        model=response.model,
        usage=response.usage.model_dump(),
        duration_ms=int((time.monotonic() - started) * 1000),
    )
    return message, events


def _complete(
    model: Model, request: ModelRequest, state: LoopState, attempt: int | None
) -> ModelResponse:
    settings = get_settings()
    if settings.stream_flush_ms <= 0:
        return model.complete(request)
    writer = ChunkWriter(
        stores().events,
        state.investigation_id,
        state.turn,
        flush_ms=settings.stream_flush_ms,
        flush_bytes=settings.stream_flush_bytes,
        retry_count=attempt,
    )
    with writer:
        return model.complete(request, on_delta=writer)


def human_wait_likely(inv: Investigation, events: list[StoredEvent]) -> bool:
    """Whether the next request may come after a person answers (longer than the 5-minute
    cache lives): the approval gate is on, or the latest turn asked a question. Then the
    cache entries written now are worth the 1-hour price; else 5 minutes is cheaper."""
    if (
        inv.require_approval
        if inv.require_approval is not None
        else get_settings().require_approval
    ):
        return True
    latest = next(
        (e.event for e in reversed(events) if isinstance(e.event, AssistantMessage)), None
    )
    return latest is not None and calls_of(latest.tool_uses()).question is not None
