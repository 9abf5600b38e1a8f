"""Deliver and Mark Failed: how an investigation ends."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any

from fixloop.agent.verify import delivery_terms
from fixloop.conversation import Announcer, drain, wake_if_pending
from fixloop.delivery.protocol import DeliveryError
from fixloop.delivery.service import deliver_fix
from fixloop.domain import clean_title
from fixloop.domain.events import (
    AssistantMessage,
    Delivered,
    Failed,
    StatusChanged,
    assistant_position,
    outcome_position,
)
from fixloop.domain.investigation import LoopState, Status
from fixloop.sandbox.dispatch import stop_sandbox
from fixloop.store import EventNotFound, stores
from fixloop.tools.calls import calls_of


def deliver(state: LoopState, *, announce: Announcer) -> LoopState:
    """Act on the concluding turn and close the investigation.

    ``open_pull_request`` opens (or updates) the investigation's pull request on its code
    host, as fixloop's verification of the turn allows (a draft labelled ``unverified``,
    or none: :func:`~fixloop.agent.verify.delivery_terms`); a refusal a person must resolve
    (credentials, permissions, a protected branch, an unverified fix that is not to be
    delivered) closes it as ``blocked`` with the reason, while transient failures raise for
    the state machine to retry. ``finish``, or a turn that ended without tools, records the summary.
    """
    st = stores()
    inv_id = state.investigation_id
    message = st.events.get(inv_id, assistant_position(state.turn))
    if not isinstance(message, AssistantMessage):
        raise EventNotFound(inv_id, assistant_position(state.turn))
    calls = calls_of(message.tool_uses())
    concluded = calls.conclusion
    status: Status
    if concluded is not None and calls.opens_pull_request:
        if state.answer and state.answer.get("approved"):
            # The approving reply is the call's result (the transcript stays valid).
            drain(inv_id, state.turn + 1, reply_to=concluded.id, limit=1)
        title, body = str(concluded.args["title"]), str(concluded.args["body"])
        investigation = st.investigations.get(inv_id)
        terms = delivery_terms(inv_id, state.turn)
        if terms.refusal:
            st.events.append(
                inv_id,
                outcome_position(state.turn, "failed"),
                Failed(error="Unverified", cause=terms.refusal[:4000]),
            )
            _close(state, "blocked", f"not delivered: {terms.refusal}"[:300], announce)
            return state.model_copy(update={"action": "stop"})
        try:
            pull_request, draft = deliver_fix(
                investigation,
                title,
                body,
                message.at,
                verification=terms.report,
                unverified=terms.unverified,
            )
        except DeliveryError as exc:
            st.events.append(
                inv_id,
                outcome_position(state.turn, "failed"),
                Failed(error="DeliveryError", cause=str(exc)),
            )
            _close(state, "blocked", f"delivery blocked: {exc}"[:300], announce)
            return state.model_copy(update={"action": "stop"})
        st.investigations.record_pull_request(inv_id, pull_request)
        event = Delivered(
            kind="pull_request",
            title=draft.title,
            body=draft.body,
            diff=draft.patch,
            pull_request=pull_request,
        )
        status = "delivered"
    elif concluded is not None:
        summary = str(concluded.args["summary"])
        event = Delivered(kind="summary", title=_headline(summary), body=summary)
        status = "finished"
    else:
        text = message.text() or "The model ended the investigation without a summary."
        event = Delivered(kind="summary", title=_headline(text), body=text)
        status = "finished"
    st.events.append(inv_id, outcome_position(state.turn, "delivered"), event)
    _close(state, status, event.title, announce)
    return state.model_copy(update={"action": "stop"})


def mark_failed(state: LoopState, *, announce: Announcer) -> LoopState:
    """Record why the execution failed; the state machine then fails."""
    st = stores()
    failure = describe_failure(state.error)
    st.events.append(state.investigation_id, outcome_position(state.turn, "failed"), failure.event)
    _close(state, "failed", failure.outcome, announce)
    return state


@dataclass(frozen=True)
class Failure:
    """Why an execution failed, as the log and the investigation's record tell it."""

    event: Failed
    outcome: str
    """The record's outcome, and what is announced after "Failed: "."""


def describe_failure(error: dict[str, Any] | None) -> Failure:
    """A state machine error (``{"Error", "Cause"}``) as the investigation records it."""
    error = error or {}
    name = str(error.get("Error", "Unknown"))
    cause = str(error.get("Cause", ""))
    # Lambda errors arrive as a JSON cause; keep its message, not the envelope
    with contextlib.suppress(ValueError, AttributeError):
        cause = str(json.loads(cause).get("errorMessage", cause))
    outcome = f"{name}: {cause.splitlines()[0] if cause else ''}"[:300]
    return Failure(Failed(error=name, cause=cause[:4000]), outcome)


def _close(state: LoopState, status: Status, outcome: str, announce: Announcer) -> None:
    st = stores()
    st.events.append(
        state.investigation_id,
        outcome_position(state.turn, "status"),
        StatusChanged(status=status, reason=outcome),
    )
    st.investigations.close(state.investigation_id, status, outcome)
    stop_sandbox(state.investigation_id, f"investigation {status}")
    inv = st.investigations.get(state.investigation_id)
    link = f" {inv.pull_request.url}" if status == "delivered" and inv.pull_request else ""
    announce(inv, key=f"outcome-t{state.turn}", text=f"{status.capitalize()}: {outcome}{link}")
    # Messages that arrived while it concluded: a delivered investigation reads them now.
    wake_if_pending(state.investigation_id)


def _headline(text: str) -> str:
    return clean_title(text, 200) if text.strip() else "Finished"
