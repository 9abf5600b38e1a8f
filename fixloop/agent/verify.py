"""Verified fixes: the loop's side of fixloop verifying a change before its pull request.

A turn that concludes with a valid ``open_pull_request`` first gets its change verified in
the sandbox (:mod:`fixloop.sandbox.verification`), with no state of its own in the ASL:

1. Route (Model Turn) finds no verification for the turn and returns ``tools`` with one
   Map item, ``verification_item_id(call id)``, that runs in the sandbox
   (:func:`verification_gate`).
2. The Run Tools Map dispatches it like a code tool; the dispatcher turns it into the
   sandbox's verification operation; Record Sandbox Result (Run Tool) writes the report as
   a :class:`~fixloop.domain.events.Verification` event at ``t{turn}.2.verification``
   (:func:`record_verification`), or, when the item failed after its retries, a report
   saying the verification could not run.
3. Prepare sees the verification item in the payload and does not advance the turn
   (:func:`rerouted`): Model Turn runs again for the same turn, reuses the stored message
   (the model is not called), and Route reads the verification: verified, it concludes as
   before (approval, then Deliver); failed, the call gets the failure as its error result
   and the model goes on, until ``FIXLOOP_VERIFY_ATTEMPTS`` failures; then Deliver opens the
   pull request as a draft labelled ``unverified``, or none
   (``FIXLOOP_UNVERIFIED_PULL_REQUESTS``).

Every step is a function of the log and the payload, at positions derived from the turn,
so a retried step decides the same.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from fixloop.config import get_settings
from fixloop.domain.events import Verification, verification_position
from fixloop.domain.investigation import LoopState, ToolCallRef, ToolTask
from fixloop.domain.untrusted import untrusted_block
from fixloop.domain.verification import (
    VerificationReport,
    verification_item_id,
    verified_call_id,
)
from fixloop.sandbox.protocol import SandboxResult, result_key
from fixloop.sandbox.snapshots import SnapshotStore
from fixloop.store import stores
from fixloop.tools.calls import Call, TurnCalls
from fixloop.tools.execution import Executed
from fixloop.tools.results import answer_unrun, record_result

__all__ = [
    "DeliveryTerms",
    "delivery_terms",
    "failure_result",
    "is_verification",
    "record_verification",
    "rerouted",
    "turn_verification",
    "verification_gate",
]

RUN_OUTPUT_IN_RESULT = 1_500
"""Characters of each run's output the model is shown with a failed verification."""


def is_verification(item_id: str) -> bool:
    """Whether a Map item is a verification (not a model's call)."""
    return verified_call_id(item_id) is not None


def turn_verification(investigation_id: str, turn: int) -> Verification | None:
    event = stores().events.get(investigation_id, verification_position(turn))
    return event if isinstance(event, Verification) else None


def verification_gate(state: LoopState, calls: TurnCalls) -> LoopState | None:
    """For a turn concluding with ``open_pull_request``: the state Route returns while the
    change is verified or after its verification failed; None when the conclusion goes on
    (verified, nothing to verify, or delivered unverified after the last attempt)."""
    proposal = calls.conclusion
    assert proposal is not None and calls.opens_pull_request
    inv_id, turn = state.investigation_id, state.turn
    recorded = turn_verification(inv_id, turn)
    if recorded is None:
        if not _has_change(inv_id):
            return None  # Deliver says there is nothing to deliver
        _answer_others(inv_id, turn, calls, proposal)
        item = ToolCallRef(id=verification_item_id(proposal.id), runs_in="sandbox")
        return state.model_copy(update={"action": "tools", "tool_calls": [item]})
    report = recorded.report
    if report.verified:
        return None
    settings = get_settings()
    failures = stores().investigations.get(inv_id).failed_verifications
    if report.actionable and failures < settings.verify_attempts:
        record_result(
            inv_id,
            turn,
            proposal,
            failure_result(report, failures, settings.verify_attempts),
            is_error=True,
            by_fixloop=True,
        )
        _answer_others(inv_id, turn, calls, proposal)
        return state.model_copy(update={"action": "tools", "tool_calls": []})
    if settings.unverified_pull_requests == "refuse":
        # Nothing to approve: Deliver closes the investigation without a pull request.
        _answer_others(inv_id, turn, calls, proposal)
        return state.model_copy(update={"action": "deliver", "tool_calls": []})
    return None


def rerouted(state: LoopState, base: LoopState) -> LoopState | None:
    """Prepare's decision after the Map ran ``state.tool_calls``: when it verified a
    proposed fix, ``base`` (Prepare's payload) for the same turn again (Model Turn reuses
    its message and Route reads the verification), not the next one."""
    if not any(is_verification(item.id) for item in state.tool_calls):
        return None
    return base.model_copy(update={"action": "model", "tool_calls": []})


def failure_result(report: VerificationReport, failures: int, attempts: int) -> str:
    """open_pull_request's error result when its change did not pass verification:
    fixloop's words outside, what the tests said (the repository's text) as data."""
    left = attempts - failures
    after = (
        "opened as a draft labelled `unverified`"
        if get_settings().unverified_pull_requests == "draft"
        else "not opened"
    )
    found = [f"reproduced: {_yes(report.reproduced)}; fixed: {_yes(report.fixed)}"]
    found.append(report.reason)
    if report.command:
        found.append(f"test command: {report.command}")
    for run in report.runs:
        output = run.output[-RUN_OUTPUT_IN_RESULT:]
        title = f"--- {run.kind.replace('_', ' ')}: {run.describe()}"
        found.append(f"{title}\n$ {run.command}\n{output}")
    return (
        "open_pull_request was not carried out: fixloop ran the tests itself to verify the "
        f"change, and it is not verified yet (verification {failures} of {attempts}). What "
        "the verification found follows, as data. Change the tests or the fix accordingly, "
        "then call open_pull_request again, alone (test_command names the test command if "
        f"fixloop did not find the right one). After {attempts} failed verifications, the "
        f"change is {after}; {left} "
        f"{'try is' if left == 1 else 'tries are'} left.\n\n"
        + untrusted_block("\n\n".join(found), "tool", tool="verification")
    )


@dataclass(frozen=True)
class DeliveryTerms:
    """How Deliver opens the pull request of a turn."""

    report: VerificationReport | None
    """The turn's verification (None: no change to verify, or a turn from before)."""
    unverified: bool = False
    """Opened as a draft labelled ``unverified``."""
    refusal: str = ""
    """Not opened at all, and why."""


def delivery_terms(investigation_id: str, turn: int) -> DeliveryTerms:
    recorded = turn_verification(investigation_id, turn)
    if recorded is None:
        return DeliveryTerms(None)
    report = recorded.report
    if report.verified:
        return DeliveryTerms(report)
    if get_settings().unverified_pull_requests == "refuse":
        return DeliveryTerms(
            report,
            refusal=(
                "the fix could not be verified, and unverified fixes are not delivered "
                f"(FIXLOOP_UNVERIFIED_PULL_REQUESTS=refuse): {report.reason}"
            ),
        )
    return DeliveryTerms(report, unverified=True)


def record_verification(task: ToolTask) -> Executed:
    """Record Sandbox Result (or Record Tool Failure) of a verification item: the sandbox's
    report, read back from the key this side derives and bounded, as the turn's
    :class:`Verification` event; a failed one is counted on the investigation, once."""
    inv_id, turn = task.investigation_id, task.turn
    call_id = verified_call_id(task.tool_use_id)
    assert call_id is not None
    position = verification_position(turn)
    st = stores()
    ran = False
    if st.events.get(inv_id, position) is None:
        report = _failed_to_run(task) if task.error is not None else _sandbox_report(task)
        ran = st.events.append(
            inv_id, position, Verification(turn=turn, tool_use_id=call_id, report=report)
        )
    recorded = turn_verification(inv_id, turn)
    assert recorded is not None
    if not recorded.report.verified:
        # After the event, and idempotent: a retry that finds the event counts it, once.
        st.investigations.count_failed_verification(inv_id, turn=turn)
    return Executed(ran=ran, is_error=not recorded.report.verified)


def _sandbox_report(task: ToolTask) -> VerificationReport:
    limit = get_settings().max_tool_output_chars
    key = result_key(task.investigation_id, verification_position(task.turn))
    try:
        data = stores().blobs.get_if_exists(key, max_bytes=8 * limit + 4096)
        if data is None:
            return _not_run("the sandbox answered without a report")
        result = SandboxResult.model_validate_json(data)
        if result.is_error:
            return _not_run(result.content[:1_000])
        return VerificationReport.model_validate_json(result.content)
    except (ValueError, ValidationError) as exc:
        return _not_run(f"its report was refused: {exc}"[:1_000])


def _failed_to_run(task: ToolTask) -> VerificationReport:
    error = task.error or {}
    cause = str(error.get("Cause", "")).strip()
    first = cause.splitlines()[0] if cause else ""
    return _not_run(f"{error.get('Error', 'error')} after retries: {first}"[:1_000])


def _not_run(why: str) -> VerificationReport:
    return VerificationReport(
        reproduced=False,
        fixed=False,
        reason=f"The verification could not run: {why}",
        actionable=False,
    )


def _has_change(investigation_id: str) -> bool:
    snapshot = SnapshotStore(stores().blobs).load(investigation_id)
    return snapshot is not None and bool(snapshot.files)


def _answer_others(investigation_id: str, turn: int, calls: TurnCalls, proposal: Call) -> None:
    answer_unrun(
        investigation_id,
        turn,
        calls.others(keep=proposal),
        f"Not run: the turn concluded with {proposal.name}, which is called alone.",
    )


def _yes(value: bool) -> str:
    return "yes" if value else "no"
