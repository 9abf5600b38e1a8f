"""Wait For Human: register the task token of a question, and park when nobody answers.

The state machine's Wait For Human task (``lambda:invoke.waitForTaskToken``) calls
:func:`open_wait` and then waits, at no cost, until a reply sends the task success
(:func:`fixloop.conversation.inbox.resume_waiting`) or ``human_timeout_seconds`` pass; on
time-out it calls :func:`park_unanswered`.
"""

from __future__ import annotations

import time
from typing import Literal

from aws_lambda_powertools import Logger
from pydantic import BaseModel

from fixloop.config import get_settings
from fixloop.conversation.announcer import Announcer
from fixloop.conversation.inbox import resume_waiting, wake_if_pending
from fixloop.domain import clean_title
from fixloop.domain.events import (
    PHASE_TOOLS,
    AssistantMessage,
    QuestionAsked,
    StatusChanged,
    assistant_position,
    outcome_position,
    position,
)
from fixloop.store import EventNotFound, stores
from fixloop.store.waits import Wait
from fixloop.tools.calls import Call, calls_of
from fixloop.tools.results import has_result

logger = Logger(child=True)

_TOKEN_GRACE_SECONDS = 3600
"""Waits records outlive their time-out by this much, then expire (TTL)."""


class WaitTask(BaseModel):
    """The Wait For Human task's input (and, with ``timed_out``, Park Unanswered's)."""

    investigation_id: str
    turn: int
    task_token: str = ""
    kind: Literal["ask_human", "approve"] = "ask_human"
    """The loop's action: the model asked, or its pull request waits for approval."""
    timed_out: bool = False


def wait_id(investigation_id: str, turn: int) -> str:
    return f"{investigation_id}-t{turn}"


def awaited(investigation_id: str, message: AssistantMessage) -> Call | None:
    """The call of the turn that waits for a person's reply: its ``ask_human``, or its
    ``open_pull_request`` (held for approval, or delivered and open to review); None if the
    turn has none, or the call has its result already (a deferred conclusion)."""
    call = calls_of(message.tool_uses()).awaiting
    if call is None or has_result(investigation_id, message.turn, call.index):
        return None
    return call


def open_wait(task: WaitTask, *, announce: Announcer) -> dict[str, object]:
    """Register the token, record the question in the log, post it to the channels.

    A message that arrived before the token was registered resumes the wait at once: a
    poster stores its message before it looks for a wait, this looks for messages after it
    registered the wait, so one of the two sees the other.
    """
    st = stores()
    inv_id = task.investigation_id
    message = st.events.get(inv_id, assistant_position(task.turn))
    if not isinstance(message, AssistantMessage):
        raise EventNotFound(inv_id, assistant_position(task.turn))
    asked = awaited(inv_id, message)
    if asked is None:
        raise EventNotFound(inv_id, f"{assistant_position(task.turn)} (a call awaiting a reply)")
    args = asked.args
    approval = task.kind == "approve"
    if approval:
        args = {
            "question": f"Open the pull request “{clean_title(str(args.get('title', '')))}”? "
            "Reply “approve” to "
            "open it, or say what to change.",
            "options": ["approve"],
        }
    this_wait = wait_id(inv_id, task.turn)
    st.waits.open(
        Wait(
            investigation_id=inv_id,
            wait_id=this_wait,
            task_token=task.task_token,
            turn=task.turn,
            kind="approval" if approval else "question",
            tool_use_id=asked.id,
        ),
        expires_at=int(time.time()) + get_settings().human_timeout_seconds + _TOKEN_GRACE_SECONDS,
    )
    asked_event = QuestionAsked(
        question=str(args.get("question", "")),
        options=[str(o) for o in args.get("options") or []],
        wait_id=this_wait,
        tool_use_id=asked.id,
        kind="approval" if approval else "question",
    )
    st.events.append(
        inv_id, position(task.turn, PHASE_TOOLS, f"{asked.index:03d}.asked"), asked_event
    )
    options = "".join(f"\n  • {o}" for o in asked_event.options)
    announce(
        st.investigations.get(inv_id),
        key=f"question-t{task.turn}",
        text=f"❓ {asked_event.question}{options}\n(Reply in this thread to answer.)",
    )
    if st.inbox.has_pending(inv_id):
        resume_waiting(inv_id)
    return {"wait_id": this_wait}


def park_unanswered(task: WaitTask, *, announce: Announcer) -> dict[str, object]:
    """Nobody answered in time: park the investigation with a notice. A later message wakes
    it, and its first message answers the question."""
    st = stores()
    inv_id = task.investigation_id
    st.waits.claim(inv_id)  # the token is dead; forget it
    seconds = get_settings().human_timeout_seconds
    reason = f"no reply to the question within {seconds} s; a message resumes it"
    st.events.append(
        inv_id,
        outcome_position(task.turn, "timeout"),
        StatusChanged(status="parked", reason=reason),
    )
    if st.investigations.transition(inv_id, ("running",), "parked", reason):
        announce(
            st.investigations.get(inv_id),
            key=f"parked-t{task.turn}",
            text=f"⏸ Parked: {reason}.",
        )
    wake_if_pending(inv_id)
    return {"action": "stop"}
