"""Route a turn: run its tools, wait for a person, or conclude.

Every call a turn makes ends with exactly one result (:mod:`fixloop.tools.results`): calls
that will not run because the turn concluded, waited, or was deferred are answered here,
with a result that says why.
"""

from __future__ import annotations

from typing import Literal

from fixloop.agent.toolset import default_registry, map_items
from fixloop.agent.verify import verification_gate
from fixloop.config import get_settings
from fixloop.delivery.service import undeliverable
from fixloop.domain.events import (
    AssistantMessage,
    Note,
    StatusChanged,
    note_position,
    outcome_position,
)
from fixloop.domain.investigation import LoopState
from fixloop.store import stores
from fixloop.tools.calls import calls_of
from fixloop.tools.results import answer_unrun

__all__ = ["approval_required", "route", "stopped_early"]

NoteKind = Literal["nudge", "cut_off", "paused"]

DEFERRED = "Not concluded: new messages arrived, which follow. Read them, then conclude again."


def route(state: LoopState, message: AssistantMessage) -> LoopState:
    """Deliver when the model concluded (or ended its turn without tools), unless messages
    arrived that it has not read, or the change has files a pull request does not carry
    (the model is told which, and goes on), or the change is still to be verified or did
    not pass its verification (:func:`verification_gate`); wait for a person when it asked
    one; else run tools."""
    inv_id, turn = state.investigation_id, state.turn
    calls = calls_of(message.tool_uses())
    early = stopped_early(state, message)
    if early is not None:
        return early
    if calls.concludes:
        if stores().inbox.has_pending(inv_id):
            answer_unrun(inv_id, turn, calls.calls, DEFERRED)
            return state.model_copy(update={"action": "tools", "tool_calls": []})
        concluded = calls.conclusion
        refusal = undeliverable(inv_id) if calls.opens_pull_request else None
        if concluded is not None and refusal is not None:
            # The model can fix this (remove the file, ignore it): answer and go on.
            answer_unrun(inv_id, turn, [concluded], refusal)
            answer_unrun(
                inv_id,
                turn,
                calls.others(keep=concluded),
                "Not run: open_pull_request was refused, so the turn did not conclude; "
                "call it again once its files are fixed.",
            )
            return state.model_copy(update={"action": "tools", "tool_calls": []})
        if calls.opens_pull_request:
            # fixloop verifies the change itself first (fixloop.agent.verify).
            verifying = verification_gate(state, calls)
            if verifying is not None:
                return verifying
        if calls.opens_pull_request and approval_required(inv_id):
            answer_unrun(
                inv_id,
                turn,
                calls.others(keep=concluded),
                "Not run: open_pull_request waits for approval; call it alone.",
            )
            return state.model_copy(update={"action": "approve", "tool_calls": []})
        if concluded is not None:
            answer_unrun(
                inv_id,
                turn,
                calls.others(keep=concluded),
                f"Not run: the turn concluded with {concluded.name}, which is called alone.",
            )
        return state.model_copy(update={"action": "deliver", "tool_calls": []})
    if calls.question is not None:
        answer_unrun(
            inv_id,
            turn,
            calls.others(keep=calls.question),
            "Not run: ask_human waits for a reply; call it alone.",
        )
        return state.model_copy(update={"action": "ask_human", "tool_calls": []})
    items = map_items(message.tool_uses())
    registry = default_registry()
    if any((tool := registry.get(c.name)) is not None and tool.mutating for c in calls.calls):
        # A turn that changes the workspace runs its calls one by one, in the model's order
        # ("edit, then run the tests"); a read-only turn may run them all at once.
        return state.model_copy(
            update={"action": "tools", "tool_calls": items, "tool_concurrency": 1}
        )
    return state.model_copy(update={"action": "tools", "tool_calls": items})


def stopped_early(state: LoopState, message: AssistantMessage) -> LoopState | None:
    """What a turn that did not end as a reply to act on leads to, by its stop reason (the
    Messages API documents each): ``refusal`` parks the investigation with a notice;
    ``max_tokens`` (Model Turn already asked once more with more room) and ``pause_turn``
    go on to another turn with fixloop's note, its calls answered as not run; a reply with
    no tool call (``end_turn``) gets one note asking to conclude or go on, and only a second
    one in a row concludes. None: route the turn as usual."""
    inv_id, turn = state.investigation_id, state.turn
    calls = calls_of(message.tool_uses())
    go_on = state.model_copy(update={"action": "tools", "tool_calls": []})
    if message.stop_reason == "refusal":
        answer_unrun(inv_id, turn, calls.calls, "Not run: the reply was a refusal.")
        reason = "the model declined to continue (stop reason: refusal); a message resumes it"
        st = stores()
        st.events.append(
            inv_id,
            outcome_position(turn, "status"),
            StatusChanged(status="parked", reason=reason),
        )
        st.investigations.close(inv_id, "parked", reason)
        return go_on  # Prepare stops: the investigation is no longer open
    if message.stop_reason == "max_tokens":
        answer_unrun(inv_id, turn, calls.calls, CUT_OFF_CALL)
        _note(inv_id, turn + 1, "cut_off", CUT_OFF_NOTE)
        return go_on
    if message.stop_reason == "pause_turn":
        answer_unrun(inv_id, turn, calls.calls, "Not run: the turn was paused.")
        _note(inv_id, turn + 1, "paused", "Your turn was paused; continue it.")
        return go_on
    if not calls.calls and not stores().inbox.has_pending(inv_id):
        nudged = stores().events.get(inv_id, note_position(turn, "nudge"))
        if nudged is None:
            _note(inv_id, turn + 1, "nudge", NUDGE)
            return go_on
    return None


CUT_OFF_CALL = "Not run: the reply was cut off at the output limit before it was complete."
CUT_OFF_NOTE = (
    "Your previous reply was cut off at the output limit (max_tokens) and its tool calls "
    "were not run. Continue in smaller steps: fewer and shorter tool calls per turn."
)
NUDGE = (
    "You ended your turn without calling a tool. If you are done, conclude with "
    "open_pull_request (a fix) or finish (no change needed); otherwise continue the "
    "investigation with the tools."
)


def _note(investigation_id: str, turn: int, kind: NoteKind, text: str) -> None:
    """fixloop's note read before ``turn`` (first writer wins: a retried turn writes none)."""
    stores().events.append(
        investigation_id, note_position(turn, kind), Note(turn=turn, kind=kind, text=text)
    )


def approval_required(investigation_id: str) -> bool:
    inv = stores().investigations.get(investigation_id)
    return (
        inv.require_approval
        if inv.require_approval is not None
        else get_settings().require_approval
    )
