"""The aftercare state machine's step (statemachines/aftercare.asl.json): one Lambda task,
run between Wait states.

``watch`` looks for the deployment: found, the investigation becomes ``deployed`` and the
machine waits out the verification window; not found, it waits ``FIXLOOP_DEPLOY_POLL_SECONDS``
and looks again, until ``FIXLOOP_DEPLOY_TIMEOUT_SECONDS`` after the merge (sources that
answer) or ``FIXLOOP_DEPLOY_ASSUMED_DELAY_SECONDS`` (none does), when the deployment is
assumed and the investigation says so. ``window`` verifies: ``verified``, or reopened as
``recurred``. Waits are absolute (until the deployment plus the window), so a retried step
waits no longer. Each step reads the record first: a round that moved on (reopened, merged
again) ends its execution with nothing written.
"""

from __future__ import annotations

import contextlib
import json
from datetime import datetime, timedelta

from fixloop.aftercare.deployment import Deployment, find_deployment, watch_of
from fixloop.aftercare.recurrence import recur
from fixloop.aftercare.regression import forget_fix, remember_fix
from fixloop.aftercare.rounds import AftercareState, change, note, tell
from fixloop.aftercare.verification import verify
from fixloop.config import get_settings
from fixloop.conversation import Announcer
from fixloop.domain import Aftercare, Investigation, Signal, SignalReceived
from fixloop.domain.events import signal_position
from fixloop.domain.signal import utcnow
from fixloop.errors import EventNotFound
from fixloop.store import stores
from fixloop.tools.telemetry.common import duration, iso, utc

__all__ = ["step"]


def step(state: AftercareState, *, announce: Announcer) -> AftercareState:
    """One step of a round's aftercare; the next payload (``action`` says what follows)."""
    inv = stores().investigations.get(state.investigation_id)
    ac = inv.aftercare
    if state.action == "announce" and ac is not None:
        tell(announce, inv.investigation_id, state.round, state.what)
        return _done(state)
    if ac is None or ac.round != state.round:
        return _done(state)
    if state.error is not None:
        return _failed(inv, state)
    if state.action in ("watch", "wait") and inv.status == "merged":
        return _watch(inv, ac, state, announce)
    if inv.status == "deployed" and ac.deployed_at is not None:
        if state.action == "window":
            return _verify(inv, ac, announce)
        return _window(state, ac.deployed_at)  # a watch retried after it recorded the deployment
    return _done(state)


def _watch(
    inv: Investigation, ac: Aftercare, state: AftercareState, announce: Announcer
) -> AftercareState:
    settings = get_settings()
    if state.action == "watch":
        tell(announce, inv.investigation_id, ac.round, "merged")
    assert ac.merged_at is not None
    merged_at = utc(ac.merged_at)
    watch = watch_of(inv.deploy_watch, _signal(inv.investigation_id))
    check = find_deployment(watch, merged_at=merged_at, commits=(ac.merge_commit, ac.head_sha))
    if check.deployment is not None:
        return _deployed(inv, ac, check.deployment, announce, state)
    now = utcnow()
    state_now = check.state
    if not ac.watch:
        stores().investigations.set_fields(
            inv.investigation_id,
            {"aftercare": ac.model_copy(update={"watch": state_now}).model_dump(mode="json")},
            status="merged",
        )
    if state_now == "pending":
        limit = timedelta(seconds=settings.deploy_timeout_seconds)
        if now < merged_at + limit:
            return _wait(state, settings.deploy_poll_seconds, merged_at + limit - now)
        detail = (
            f"no deployment seen within {duration(limit)} of the merge ({check.describe()}): "
            "assumed deployed now"
        )
        return _deployed(inv, ac, Deployment("assumed", now, detail), announce, state)
    delay = timedelta(seconds=settings.deploy_assumed_delay_seconds)
    if now < merged_at + delay:
        return _wait(state, settings.deploy_poll_seconds, merged_at + delay - now)
    detail = (
        f"no source tells when it was deployed ({check.describe()}): assumed "
        f"{duration(delay)} after the merge"
    )
    return _deployed(inv, ac, Deployment("assumed", merged_at + delay, detail), announce, state)


def _deployed(
    inv: Investigation,
    ac: Aftercare,
    found: Deployment,
    announce: Announcer,
    state: AftercareState,
) -> AftercareState:
    deployed = ac.model_copy(
        update={
            "phase": "deployed",
            "deployed_at": found.at,
            "deploy_source": found.source,
            "deploy_detail": found.detail,
        }
    )
    verb = "Assumed deployed" if found.source == "assumed" else "Deployed"
    reason = f"{verb} at {iso(found.at)} ({found.source}): {found.detail}"
    if not change(
        inv,
        from_statuses=("merged",),
        to="deployed",
        reason=reason[:300],
        aftercare=deployed,
        expect_round=ac.round,
    ):
        return _done(state)
    remember_fix(stores().investigations.get(inv.investigation_id))
    tell(announce, inv.investigation_id, ac.round, "deployed")
    return _window(state, found.at)


def _verify(inv: Investigation, ac: Aftercare, announce: Announcer) -> AftercareState:
    assert ac.deployed_at is not None
    done = AftercareState(investigation_id=inv.investigation_id, round=ac.round, action="done")
    verdict = verify(inv, _signal(inv.investigation_id), ac.deployed_at)
    if not verdict.held:
        recur(inv, evidence=verdict.evidence, announce=announce)
        return done
    verified = ac.model_copy(
        update={
            "phase": "verified",
            "verified_at": utcnow(),
            "verify_detail": verdict.evidence,
            "verifications": ac.verifications + 1,
        }
    )
    reason = f"verified: {verdict.evidence}"
    if change(
        inv,
        from_statuses=("deployed",),
        to="verified",
        reason=reason[:300],
        aftercare=verified,
        expect_round=ac.round,
    ):
        forget_fix(inv.investigation_id)
        tell(announce, inv.investigation_id, ac.round, "verified")
    return done


def _failed(inv: Investigation, state: AftercareState) -> AftercareState:
    error = state.error or {}
    cause = str(error.get("Cause", ""))
    with contextlib.suppress(ValueError, AttributeError):
        cause = str(json.loads(cause).get("errorMessage", cause))
    note(
        inv,
        "failed",
        f"The aftercare of this fix stopped: {error.get('Error', 'Unknown')}: {cause[:1000]}",
    )
    return _done(state)


def _signal(investigation_id: str) -> Signal:
    stored = stores().events.get(investigation_id, signal_position())
    if not isinstance(stored, SignalReceived):
        raise EventNotFound(investigation_id, signal_position())
    return stored.signal


def _wait(state: AftercareState, poll: int, remaining: timedelta) -> AftercareState:
    seconds = max(1, min(poll, int(remaining.total_seconds()) + 1))
    return state.model_copy(
        update={"action": "wait", "wait_seconds": seconds, "polls": state.polls + 1}
    )


def _window(state: AftercareState, deployed_at: datetime) -> AftercareState:
    end = utc(deployed_at) + timedelta(seconds=get_settings().verify_window_seconds)
    seconds = max(0, int((end - utcnow()).total_seconds()) + 1)
    return state.model_copy(update={"action": "window", "wait_seconds": seconds})


def _done(state: AftercareState) -> AftercareState:
    return state.model_copy(update={"action": "done", "wait_seconds": 0})
