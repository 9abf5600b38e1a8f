"""One serialized inbox per investigation: every channel posts here, the loop reads from here.

:func:`post_message` is the only way a person's message enters an investigation (Slack,
Linear, GitHub, REST, the web view, MCP). It stores the message once per channel delivery id,
then makes sure someone will read it:

- the investigation waits on a person (a Waits record): the first arrival claims the wait
  and sends the task success, so exactly one message resumes it;
- it is delivered, parked or recurred (its merged fix did not hold, fixloop.aftercare): the
  message wakes it in a new generation (a conditional transition, so many messages start one
  execution);
- it is running: nothing more; Prepare moves pending messages into the log at the next turn
  boundary (:func:`drain`);
- it is closed for good (fixed, rejected, finished, failed, blocked; merged, deployed or
  verified: its fix is in the hands of the aftercare, and a recurrence reopens it): the
  message is taken back and the caller told so.

Every path that stops the loop (Deliver, a timed-out wait) calls :func:`wake_if_pending`
after writing its status, and every poster reads the status after storing its message, so a
message that lands while the loop stops is seen by one side or the other, never lost.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Literal

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from fixloop import aws
from fixloop.config import get_settings
from fixloop.domain import Investigation, LoopState, UserMessage, execution_name
from fixloop.domain.events import PHASE_INPUT, position
from fixloop.domain.investigation import Status
from fixloop.store import stores
from fixloop.store.inbox import InboxMessage

logger = Logger(child=True)

REOPENABLE: tuple[Status, ...] = ("delivered", "parked", "recurred")
"""Stopped, but a message wakes it: review feedback on a pull request, a late answer, the
evidence that a merged fix did not hold."""
_EXPIRED_TOKEN_CODES = frozenset({"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"})

Outcome = Literal["accepted", "duplicate", "closed"]


@dataclass(frozen=True)
class Posted:
    outcome: Outcome
    sequence: int = 0
    resumed: bool = False
    """It answered a waiting question (sent the task success)."""
    woke: bool = False
    """It started a new generation of a stopped investigation."""
    status: str = ""


def post_message(
    investigation_id: str,
    *,
    text: str,
    author: str,
    channel: str,
    delivery_id: str,
    wake: bool = True,
) -> Posted:
    """Store a message for the investigation and see that the loop reads it.

    Raises :class:`fixloop.store.InvestigationNotFound` for an unknown id. A message for a
    closed investigation is not stored (``closed``); a delivery seen before is not stored
    again (``duplicate``, also once the investigation has closed since); an empty
    ``delivery_id`` gets a fresh one (the channel had none, nor anything to derive one from,
    :func:`content_delivery_id`): the message is stored, never taken for another.
    ``wake=False`` (fixloop's own notices, e.g. a recurrence) only stores it: it neither
    answers a question nor wakes a stopped investigation, and is read whenever the loop next
    runs.
    """
    st = stores()
    inv = st.investigations.get(investigation_id)
    if not _accepts(inv):
        # A redelivery of a message it took before it closed is still that message.
        if delivery_id and st.inbox.delivered(investigation_id, channel, delivery_id):
            return Posted("duplicate", status=inv.status)
        return Posted("closed", status=inv.status)
    if not delivery_id:
        # Never deduplicate against another message that had no id either.
        delivery_id = f"fresh-{uuid.uuid4().hex}"
    message = st.inbox.add(
        investigation_id, channel=channel, delivery_id=delivery_id, author=author, text=text
    )
    if message is None:
        return Posted("duplicate", status=inv.status)
    if not wake:
        return Posted("accepted", message.sequence, status=inv.status)
    if resume_waiting(investigation_id):
        return Posted("accepted", message.sequence, resumed=True, status="running")
    inv = st.investigations.get(investigation_id)
    if inv.status in REOPENABLE:
        return Posted("accepted", message.sequence, woke=reopen(inv), status="running")
    if not _accepts(inv) and st.inbox.retract(message):
        return Posted("closed", status=inv.status)
    return Posted("accepted", message.sequence, status=inv.status)


def content_delivery_id(
    channel: str, *, author: str, text: str, sent_at: str, where: str = ""
) -> str:
    """A delivery id for a message its channel sent without one, derived from what it is:
    its channel and place (thread, issue, pull request), author, send time and text. A
    redelivery of the same message gets the same id (stored once); two different messages,
    even with the same text, differ in time or place."""
    identity = json.dumps([channel, where, author, sent_at, text], ensure_ascii=False)
    return "content-" + hashlib.sha256(identity.encode()).hexdigest()[:40]


def _accepts(inv: Investigation) -> bool:
    return inv.is_open or inv.status in REOPENABLE


def resume_waiting(investigation_id: str) -> bool:
    """Answer the investigation's open wait, if any: claim it (one caller wins) and send the
    task success. False if nothing waited, or the wait had already timed out."""
    st = stores()
    wait = st.waits.claim(investigation_id)
    if wait is None:
        return False
    approved = False  # always present: the state machine's Approved choice reads it
    if wait.kind == "approval":
        first = st.inbox.pending(investigation_id)[:1]
        approved = bool(first) and is_approval(first[0].text)
    answer = {"wait_id": wait.wait_id, "approved": approved}
    try:
        aws.client("stepfunctions").send_task_success(
            taskToken=wait.task_token, output=json.dumps(answer)
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] in _EXPIRED_TOKEN_CODES:
            logger.info("wait already ended", extra={"wait_id": wait.wait_id})
            return False
        raise
    logger.info("resumed a waiting investigation", extra={"wait_id": wait.wait_id})
    return True


_APPROVALS = frozenset(
    {
        "approve",
        "approved",
        "yes",
        "y",
        "lgtm",
        "ok",
        "okay",
        "go",
        "go ahead",
        "ship it",
        "+1",
        "👍",
    }
)


def is_approval(text: str) -> bool:
    """Whether a reply to an approval request approves: "approve", "yes", "LGTM", "ship it"
    (any case, trailing punctuation ignored). Anything else is feedback for the model."""
    said = text.strip().lower().rstrip(".!")
    return said in _APPROVALS or said.startswith("approve")


def reopen(inv: Investigation) -> bool:
    """Start the next generation of a stopped investigation; False if another caller (or
    the loop itself) got there first."""
    if not stores().investigations.transition(
        inv.investigation_id, REOPENABLE, "running", "reading new messages"
    ):
        return False
    generation = inv.generation + 1
    try:
        aws.client("stepfunctions").start_execution(
            stateMachineArn=get_settings().state_machine_arn,
            name=execution_name(inv.investigation_id, generation),
            input=json.dumps(
                LoopState(
                    investigation_id=inv.investigation_id, generation=generation, turn=inv.turns
                ).payload()
            ),
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ExecutionAlreadyExists":
            raise
    return True


def wake_if_pending(investigation_id: str) -> bool:
    """After the loop stopped: wake it if messages arrived meanwhile."""
    st = stores()
    if not st.inbox.has_pending(investigation_id):
        return False
    inv = st.investigations.get(investigation_id)
    return inv.status in REOPENABLE and reopen(inv)


def message_position(turn: int, sequence: int) -> str:
    """Where an inbox message lands in the log: before turn ``turn``, in arrival order."""
    return position(turn, PHASE_INPUT, f"msg.{sequence:012d}")


def drain(
    investigation_id: str, turn: int, *, reply_to: str = "", limit: int | None = None
) -> list[InboxMessage]:
    """Move pending messages into the log before turn ``turn``, in arrival order.

    Positions come from the sequence numbers, so a retried Prepare rewrites the same keys;
    a message is removed from the inbox only after its event is written. The first message
    of the turn answers ``reply_to`` (an ``ask_human`` call), unless an earlier attempt
    already moved that answer.
    """
    st = stores()
    pending = st.inbox.pending(investigation_id)[:limit]
    if not pending:
        return []
    if reply_to and _turn_has_messages(investigation_id, turn):
        reply_to = ""
    for i, m in enumerate(pending):
        st.events.append(
            investigation_id,
            message_position(turn, m.sequence),
            UserMessage(
                text=m.text,
                author=m.author,
                channel=m.channel,
                sequence=m.sequence,
                in_reply_to=reply_to if i == 0 else "",
            ),
        )
        st.inbox.remove(investigation_id, m.sequence)
    return pending


def _turn_has_messages(investigation_id: str, turn: int) -> bool:
    start = position(turn, PHASE_INPUT, "msg.")
    for stored in stores().events.read(investigation_id, after=start, limit=1):
        return stored.position.startswith(start)
    return False
