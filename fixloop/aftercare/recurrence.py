"""Reopen, do not restart: the problem came back after its fix was merged.

A recurrence moves the investigation to ``recurred`` (one winner; the next round begins),
leaves the evidence in its inbox as fixloop's message, and wakes it in a new generation: the
agent continues from its log, reading that its merged pull request did not hold (the message
answers its ``open_pull_request`` call). A crash after the status change is repaired by the
next occurrence or message: ``recurred`` is one of the statuses a message wakes, and the
message's delivery id is the round's.

Occurrences while the fix is merged but known not to be in production yet (a deployment
source answers and does not show it) are expected: they are counted, and noted once.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger

from fixloop.aftercare.regression import forget_fix
from fixloop.aftercare.rounds import change, note, tell
from fixloop.conversation import Announcer, post_message, reopen
from fixloop.domain import Investigation, Signal
from fixloop.domain.investigation import Status
from fixloop.domain.signal import utcnow
from fixloop.store import stores
from fixloop.store.fingerprints import FingerprintRecord
from fixloop.tools.telemetry.common import iso

__all__ = ["did_not_hold", "on_occurrence", "recur", "sample_of", "wake_recurred"]

logger = Logger(child=True)

RECURRABLE: tuple[Status, ...] = ("merged", "deployed", "verified")
SAMPLE_LINES = 5
LINE_CHARS = 800


def on_occurrence(
    inv: Investigation,
    signal: Signal,
    counted: FingerprintRecord,
    *,
    occurrences: int,
    announce: Announcer | None = None,
) -> bool:
    """New occurrences (already counted) of the problem of ``inv``, whose fix is merged:
    reopen it with them as evidence. False when they are expected (the fix is not deployed
    yet) or another delivery reopened it first."""
    ac = inv.aftercare
    if ac is None:
        return False
    if inv.status == "recurred":
        return wake_recurred(inv.investigation_id)
    if inv.status == "merged" and ac.watch == "pending":
        note(
            inv,
            "pending",
            f"The problem occurred again ({counted.occurrences} occurrences in all) while the "
            "fix is merged but not yet seen in production: expected until it is deployed.",
        )
        return False
    evidence = (
        f"{occurrences} new occurrence{'s' if occurrences != 1 else ''}, the latest at "
        f"{iso(signal.occurred_at)} ({counted.occurrences} in all): {signal.title}"
    )
    return recur(inv, evidence=evidence, sample=sample_of(signal), announce=announce)


def recur(
    inv: Investigation, *, evidence: str, sample: str = "", announce: Announcer | None = None
) -> bool:
    """The fix of ``inv`` did not hold: move it to ``recurred``, then wake it with the
    evidence. True if this call (or an earlier attempt of it) did."""
    ac = inv.aftercare
    if ac is None or inv.status not in RECURRABLE:
        return False
    nxt = ac.model_copy(
        update={
            "round": ac.round + 1,
            "phase": "recurred",
            "recurred_at": utcnow(),
            "recurred_detail": evidence[:1000],
            "recurrences": ac.recurrences + 1,
        }
    )
    reason = f"the problem recurred after pull request #{ac.pull_request_number}: {evidence}"
    if not change(
        inv,
        from_statuses=RECURRABLE,
        to="recurred",
        reason=reason[:300],
        aftercare=nxt,
        expect_round=ac.round,
        event_round=ac.round,
    ):
        return False
    forget_fix(inv.investigation_id)
    text = did_not_hold(inv, evidence, sample)
    woke = wake_recurred(inv.investigation_id, text)
    tell(announce, inv.investigation_id, ac.round, "recurred")
    return woke


def wake_recurred(investigation_id: str, text: str = "") -> bool:
    """Leave the recurrence message (once per round) and wake the investigation."""
    st = stores()
    inv = st.investigations.get(investigation_id)
    ac = inv.aftercare
    if inv.status != "recurred" or ac is None:
        return False
    post_message(
        investigation_id,
        text=text or did_not_hold(inv, "the problem recurred", ""),
        author="fixloop",
        channel="signal",
        delivery_id=f"recurred-r{ac.round - 1}",
        wake=False,
    )
    return reopen(st.investigations.get(investigation_id))


def did_not_hold(inv: Investigation, evidence: str, sample: str) -> str:
    """The message the agent reads: its merged pull request, what is known of the deployment,
    and the new occurrences."""
    ac = inv.aftercare
    assert ac is not None
    merged = f" at {iso(ac.merged_at)}" if ac.merged_at else ""
    if ac.deployed_at is None:
        deployed = "its deployment was not seen yet"
    elif ac.deploy_source == "assumed":
        deployed = f"its deployment is assumed at {iso(ac.deployed_at)} ({ac.deploy_detail})"
    else:
        deployed = f"it was deployed at {iso(ac.deployed_at)} ({ac.deploy_detail})"
    lines = [
        f"Your fix did not hold. Pull request #{ac.pull_request_number} ({ac.pull_request_url}) "
        f"was merged into {ac.base or 'the target branch'} as {ac.merge_commit[:12]}{merged}; "
        f"{deployed}. The problem recurred after it: {evidence}.",
    ]
    if ac.files:
        lines.append(f"The fix changed: {', '.join(ac.files[:20])}.")
    if sample:
        lines.append(f"The new occurrences:\n{sample}")
    lines.append(
        "Continue from what you know: find why the fix did not hold, then change it; your "
        "next open_pull_request opens a new pull request on top of the merged one."
    )
    return "\n\n".join(lines)


def sample_of(signal: Signal) -> str:
    """The first log lines of ``signal`` (each cut), as the agent is shown them."""
    shown = signal.log_lines[:SAMPLE_LINES]
    out = []
    for line in shown:
        message = line.message
        if len(message) > LINE_CHARS:
            message = message[:LINE_CHARS] + f" [... {len(line.message) - LINE_CHARS} more]"
        out.append(f"[{iso(line.timestamp)}] {message}")
    if len(signal.log_lines) > len(shown):
        out.append(f"(and {len(signal.log_lines) - len(shown)} more lines)")
    if not out:
        out.append(signal.render()[: LINE_CHARS * 2])
    return "\n".join(out)
