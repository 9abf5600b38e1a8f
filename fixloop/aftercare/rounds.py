"""A fix's rounds on the investigation record: the guarded status changes with their events
and announcements, and the aftercare execution that follows each round.

Every change is a conditional write of the status (and the aftercare record with it) that
only one caller wins; its event goes to a position derived from the round
(:func:`fixloop.domain.events.after_position`) and its announcement has a key derived from
it, so a retried step writes and posts nothing twice.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Literal

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError
from pydantic import BaseModel

from fixloop import aws
from fixloop.config import get_settings
from fixloop.conversation import Announcer
from fixloop.domain import Aftercare, Investigation, StatusChanged
from fixloop.domain.events import AftercareNote, after_position
from fixloop.domain.investigation import Status
from fixloop.store import stores

__all__ = [
    "AftercareState",
    "announcement",
    "change",
    "execution_name_for",
    "note",
    "start_watch",
    "tell",
]

logger = Logger(child=True)

Action = Literal["watch", "wait", "window", "done", "announce"]


class AftercareState(BaseModel):
    """The aftercare state machine's payload: ids and counters only."""

    investigation_id: str
    round: int = 0
    action: Action = "watch"
    """``watch``: look for the deployment (the first step); ``wait``: look again after
    ``wait_seconds``; ``window``: the fix is deployed, verify after ``wait_seconds``;
    ``done``: nothing more to do; ``announce``: only tell people ``what`` happened (for the
    triggers, which hold no channel credential)."""
    wait_seconds: int = 0
    polls: int = 0
    what: str = ""
    """With ``announce``: what to tell (:func:`announcement`)."""
    error: dict[str, object] | None = None
    """Set by a Catch (ResultPath ``$.error``) before Aftercare Failed."""

    def payload(self) -> dict[str, object]:
        return self.model_dump(mode="json", exclude_none=True)


def execution_name_for(investigation_id: str, round_: int, what: str = "") -> str:
    """The aftercare execution of a round (``what``: one that only announces it), derived
    from them, so a second merge notice starts none. Step Functions allows 80 characters
    from ``[A-Za-z0-9-_]``."""
    suffix = f"-r{round_}" + (f"-{re.sub(r'[^A-Za-z0-9_-]', '-', what)}" if what else "")
    name = f"{investigation_id}{suffix}"
    if len(name) > 80:
        digest = hashlib.sha256(name.encode()).hexdigest()[:16]
        name = f"{investigation_id[:40]}-{digest}-r{round_}"
    return name


def start_watch(investigation_id: str, round_: int) -> bool:
    """Start the round's aftercare execution (once); False when no aftercare state machine is
    configured (the fix is then not followed, and a warning says so)."""
    return _start(AftercareState(investigation_id=investigation_id, round=round_))


def _start(state: AftercareState) -> bool:
    arn = get_settings().aftercare_state_machine_arn
    if not arn:
        logger.warning(
            "FIXLOOP_AFTERCARE_STATE_MACHINE_ARN is not set: the merged fix is not followed",
            extra={"investigation_id": state.investigation_id},
        )
        return False
    try:
        aws.client("stepfunctions").start_execution(
            stateMachineArn=arn,
            name=execution_name_for(state.investigation_id, state.round, state.what),
            input=json.dumps(state.payload()),
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ExecutionAlreadyExists":
            raise
    return True


def change(
    inv: Investigation,
    *,
    from_statuses: tuple[Status, ...],
    to: Status,
    reason: str,
    aftercare: Aftercare,
    expect_round: int,
    event_round: int | None = None,
) -> bool:
    """Move the investigation to ``to`` with ``aftercare`` if its status is one of
    ``from_statuses`` and its fix is in round ``expect_round``; write the status event of
    round ``event_round`` (default: ``expect_round``). True if this call made the change, or
    an earlier attempt of it did (its event is written again: first writer wins)."""
    st = stores()
    won = st.investigations.transition(
        inv.investigation_id,
        from_statuses,
        to,
        reason,
        changes={"aftercare": aftercare.model_dump(mode="json")},
        aftercare_round=expect_round,
    )
    if not won:
        now = st.investigations.get(inv.investigation_id)
        if now.status != to or now.aftercare is None or now.aftercare.round != aftercare.round:
            return False
    round_ = expect_round if event_round is None else event_round
    st.events.append(
        inv.investigation_id,
        after_position(aftercare.turn, round_, to),
        StatusChanged(status=to, reason=reason),
    )
    return True


def note(
    inv: Investigation,
    kind: Literal["pending", "regression", "failed"],
    text: str,
    detail: str = "",
) -> bool:
    """Write an :class:`AftercareNote` for the fix's current round (once per kind and
    ``detail``)."""
    ac = inv.aftercare or Aftercare()
    return stores().events.append(
        inv.investigation_id,
        after_position(ac.turn, ac.round, kind, detail),
        AftercareNote(kind=kind, text=text),
    )


def tell(announce: Announcer | None, investigation_id: str, round_: int, what: str) -> None:
    """Tell the investigation's people what happened to round ``round_`` of its fix (each
    ``what`` once): through ``announce``, or, where there is none (the triggers hold no
    channel credential), through a short aftercare execution that announces it."""
    if announce is None:
        _start(
            AftercareState(
                investigation_id=investigation_id, round=round_, action="announce", what=what
            )
        )
        return
    inv = stores().investigations.get(investigation_id)
    announce(inv, key=f"after-r{round_}-{what}", text=announcement(inv, round_, what))


def announcement(inv: Investigation, round_: int, what: str) -> str:
    """What people are told of round ``round_`` of the fix of ``inv`` (from its record)."""
    ac = inv.aftercare or Aftercare()
    pr = f"pull request #{ac.pull_request_number}"
    if what == "merged":
        return (
            f"Merged: {pr} is in {ac.base or 'the target branch'} ({ac.merge_commit[:12]}). "
            "Watching for its deployment."
        )
    if what == "deployed" and ac.deployed_at is not None:
        verb = "Assumed deployed" if ac.deploy_source == "assumed" else "Deployed"
        window = get_settings().verify_window_seconds
        span = f"{window // 3600} h" if window >= 3600 else f"{window} s"
        return (
            f"{verb}: {pr} at {ac.deployed_at.isoformat()} ({ac.deploy_detail[:300]}). "
            f"Verifying over the next {span}."
        )
    if what == "verified":
        return f"Verified: {pr} held in production ({ac.verify_detail[:400]})."
    if what == "recurred":
        return f"Recurred after {pr}: {ac.recurred_detail[:400]}. The investigation is reopened."
    if what.startswith("regression-"):
        suspect = what.removeprefix("regression-")
        files = ", ".join(ac.files[:5]) or "the files it changed"
        return (
            f"⚠ Possible regression of {pr}: a new error in {files} right after it was "
            f"deployed (investigation {suspect})."
        )
    return f"{what}: {pr}"
