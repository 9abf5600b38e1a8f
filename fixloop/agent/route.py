"""Route a turn: run its tools, wait for a person, or conclude.

Every call a turn makes ends with exactly one result (:mod:`fixloop.tools.results`): calls
that will not run because the turn concluded, waited, or was deferred are answered here,
with a result that says why.
"""

from __future__ import annotations

from fixloop.agent.toolset import map_items
from fixloop.agent.verify import verification_gate
from fixloop.config import get_settings
from fixloop.delivery.service import undeliverable
from fixloop.domain.events import AssistantMessage
from fixloop.domain.investigation import LoopState
from fixloop.store import stores
from fixloop.tools.calls import calls_of
from fixloop.tools.results import answer_unrun

__all__ = ["approval_required", "route"]

DEFERRED = "Not concluded: new messages arrived, which follow. Read them, then conclude again."


def route(state: LoopState, message: AssistantMessage) -> LoopState:
    """Deliver when the model concluded (or ended its turn without tools), unless messages
    arrived that it has not read, or the change has files a pull request does not carry
    (the model is told which, and goes on), or the change is still to be verified or did
    not pass its verification (:func:`verification_gate`); wait for a person when it asked
    one; else run tools."""
    inv_id, turn = state.investigation_id, state.turn
    calls = calls_of(message.tool_uses())
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
    return state.model_copy(
        update={"action": "tools", "tool_calls": map_items(message.tool_uses())}
    )


def approval_required(investigation_id: str) -> bool:
    inv = stores().investigations.get(investigation_id)
    return (
        inv.require_approval
        if inv.require_approval is not None
        else get_settings().require_approval
    )
