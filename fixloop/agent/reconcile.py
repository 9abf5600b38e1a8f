"""Reconcile: close an investigation whose execution ended without Mark Failed.

The state machine's Catch (``States.ALL``) sends every failure it can see to Mark Failed, but
some end an execution without any Catch running: ``States.Runtime`` (an unresolvable path, a
payload that is not what a state expects) and ``States.DataLimitExceeded`` are not matched
by ``States.ALL``, an execution can time out, a person can stop it, and Mark Failed itself
can fail. Its investigation would stay ``running`` for ever. An EventBridge rule on the state
machine's "Step Functions Execution Status Change" events (FAILED, TIMED_OUT, ABORTED)
invokes :func:`reconcile` (on the embedded runtime, the runtime delivers those events), which
closes the investigation as Mark Failed would: a ``Failed`` event with the execution's error
and cause, the status ``failed``, its sandbox stopped, the outcome announced.

It never overrides an investigation that moved on. An execution that did reach Mark Failed
also ends FAILED (its last state is a Fail), so most events find the investigation already
closed and change nothing; so does an event about a generation the investigation has since
moved past (continue-as-new, a wake). The close is the conditional write that decides: only
a ``running`` investigation becomes ``failed``, so two deliveries of one event (EventBridge
delivers at least once; Lambda retries a failed asynchronous invocation) close it once and
announce it once. A retry that finds the investigation already closed with this very outcome
(an earlier attempt closed it, then failed before writing the log or announcing) finishes
that attempt's writes: the log's positions and the announcement's record make them happen
once.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from fixloop.agent.conclude import describe_failure
from fixloop.conversation import Announcer
from fixloop.domain.events import StatusChanged, outcome_position
from fixloop.domain.investigation import EXECUTION_END_STATUSES, LoopState
from fixloop.sandbox.dispatch import stop_sandbox
from fixloop.store import InvestigationNotFound, stores

__all__ = ["END_STATUSES", "ExecutionEnded", "reconcile"]

END_STATUSES = frozenset(EXECUTION_END_STATUSES)
"""The statuses of an execution that ended without concluding (SUCCEEDED is the only other
end)."""
_ERROR_OF_STATUS = {"TIMED_OUT": "States.Timeout", "ABORTED": "ExecutionAborted"}
_GENERATION = re.compile(r"-g([0-9]+)$")


class ExecutionEnded(BaseModel):
    """The ``detail`` of a "Step Functions Execution Status Change" event (what fixloop
    reads of it)."""

    execution_arn: str = Field(alias="executionArn")
    name: str
    status: str
    input: str | None = None
    """The execution's input as a JSON string: the LoopState it started with."""
    error: str | None = None
    cause: str | None = None


def reconcile(event: dict[str, Any], *, announce: Announcer) -> dict[str, Any]:
    """Close the investigation of the ended execution in ``event`` as failed if it is still
    open; what was done, as JSON (``reconciled`` and the reason when nothing was)."""
    try:
        ended = ExecutionEnded.model_validate(event.get("detail") or {})
    except ValidationError as exc:
        return _skipped(f"not an execution status change: {exc.error_count()} problem(s)")
    if ended.status not in END_STATUSES:
        return _skipped(f"the execution ended {ended.status}")
    started = _started_state(ended)
    if started is None:
        return _skipped(f"{ended.name} is not an investigation execution")
    st = stores()
    try:
        inv = st.investigations.get(started.investigation_id)
    except InvestigationNotFound:
        return _skipped(f"no investigation {started.investigation_id}")
    if started.generation < inv.generation:
        return _skipped(f"{inv.investigation_id} runs generation {inv.generation} now")
    error = ended.error or _ERROR_OF_STATUS.get(ended.status, "ExecutionFailed")
    cause = ended.cause or f"the execution {ended.name} ended {ended.status} without Mark Failed"
    failure = describe_failure({"Error": error, "Cause": cause})
    if not st.investigations.close(inv.investigation_id, "failed", failure.outcome):
        inv = st.investigations.get(inv.investigation_id)
        if inv.status != "failed" or inv.outcome != failure.outcome:
            return _skipped(f"{inv.investigation_id} is already {inv.status}")
    # After the last turn the record counted, so the outcome sorts after it.
    turn = max(inv.turns, started.turn)
    inv_id = inv.investigation_id
    st.events.append(inv_id, outcome_position(turn, "failed"), failure.event)
    st.events.append(
        inv_id,
        outcome_position(turn, "status"),
        StatusChanged(status="failed", reason=failure.outcome),
    )
    stop_sandbox(inv_id, "investigation failed")
    announce(
        st.investigations.get(inv_id), key=f"outcome-t{turn}", text=f"Failed: {failure.outcome}"
    )
    return {
        "reconciled": True,
        "investigation_id": inv_id,
        "execution": ended.execution_arn,
        "status": ended.status,
        "error": error,
    }


def _started_state(ended: ExecutionEnded) -> LoopState | None:
    """The LoopState the execution started with: its input, else (an event without input)
    the investigation and generation its name is derived from
    (:func:`~fixloop.domain.investigation.execution_name`; a hashed long id cannot be read
    back)."""
    if ended.input:
        try:
            return LoopState.model_validate(json.loads(ended.input))
        except (ValueError, ValidationError):
            return None
    match = _GENERATION.search(ended.name)
    if match is None:
        return None
    return LoopState(investigation_id=ended.name[: match.start()], generation=int(match.group(1)))


def _skipped(reason: str) -> dict[str, Any]:
    return {"reconciled": False, "reason": reason}
