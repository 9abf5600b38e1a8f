"""Signals after the merge, through triage: a recurrence reopens the same investigation, one
before the fix is deployed is only counted, a new error in the files a deployed fix changed
is flagged as its possible regression, and an investigation parked on an instrumentation pull
request wakes with the next occurrence."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from fixloop import aws
from fixloop.aftercare import record_merge
from fixloop.domain import (
    AftercareNote,
    AssistantMessage,
    DeployWatch,
    UserMessage,
    parse_signal,
)
from fixloop.domain.events import assistant_position
from fixloop.domain.signal import utcnow
from fixloop.intake import Admission, Target, admit
from fixloop.store import stores
from tests.integration.aftercare import (
    FIX_TURNS,
    OTHER_ERROR,
    fast,
    log_signal,
    statuses_logged,
    trace,
    wait_status,
)
from tests.integration.scenario import log_of
from tests.runtime import LocalRuntime
from tests.support import head, tool_use, wait_for, write_script


def _admit(signal: dict[str, object], repo: Path, script: Path) -> Admission:
    target = Target(repo=str(repo), commit=head(repo), model=f"scripted:{script}")
    (admission,) = admit(parse_signal(signal), target)
    return admission


def _messages(investigation_id: str) -> list[UserMessage]:
    return [e.event for e in log_of(investigation_id) if isinstance(e.event, UserMessage)]


def test_a_recurrence_after_the_deployment_wakes_the_same_investigation_with_its_evidence(
    runtime: LocalRuntime, repo: Path, tmp_path: Path
) -> None:
    # Given a problem triaged into an investigation whose fix was delivered, merged, deployed
    script = write_script(tmp_path / "s.jsonl", FIX_TURNS)
    signal = log_signal("/aws/lambda/aftercare-recur", trace("recur"))
    with fast(runtime, verify_window_seconds="120"):
        first = _admit(signal, repo, script)
        assert first.started
        inv_id = first.investigation_id
        delivered = runtime.watcher.wait(inv_id, timeout_s=120)
        assert delivered.status == "delivered" and delivered.fingerprint == first.fingerprint
        record_merge(inv_id, commit="c0ffee" * 6, at=utcnow(), by="ana", source="github")
        deployed = wait_status(inv_id, "deployed")
        # When the same error arrives again
        again = _admit(signal, repo, script)
        # Then no new investigation starts: the same one is reopened and runs on
        assert (again.started, again.investigation_id) == (False, inv_id)
        final = wait_status(inv_id, "finished", timeout_s=120)
    assert final.generation == deployed.generation + 1
    ac = final.aftercare
    assert ac is not None and (ac.round, ac.recurrences, ac.merges) == (1, 1, 1)
    assert statuses_logged(inv_id)[-4:] == ["merged", "deployed", "recurred", "finished"]
    # And the agent read that its merged pull request did not hold, with the new occurrence
    (message,) = _messages(inv_id)
    assert message.text.startswith("Your fix did not hold. Pull request #1 (")
    assert "The problem recurred after it: 1 new occurrence" in message.text
    assert "KeyError: 'user'" in message.text and "app/handler.py" in message.text
    assert (message.author, message.channel) == ("fixloop", "signal")
    delivering = stores().events.get(inv_id, assistant_position(2))
    assert isinstance(delivering, AssistantMessage)
    (call,) = delivering.tool_uses()
    assert call["name"] == "open_pull_request"
    assert message.in_reply_to == call["id"]  # given to the model as that call's result
    # And the fix is no longer in its window (no regression can be pinned on it)
    assert inv_id not in {f.investigation_id for f in stores().fingerprints.deployed_fixes()}


def test_before_the_fix_is_deployed_a_recurrence_is_expected_and_only_counted(
    runtime: LocalRuntime, repo: Path, tmp_path: Path
) -> None:
    # Given a merged fix whose stack answers but has not deployed it yet
    stack = "aftercare-pending-stack"
    aws.client("cloudformation").create_stack(
        StackName=stack, TemplateBody=json.dumps({"Resources": {"T": {"Type": "AWS::SNS::Topic"}}})
    )
    script = write_script(tmp_path / "s.jsonl", FIX_TURNS)
    signal = log_signal("/aws/lambda/aftercare-pending", trace("pending"))
    target = Target(
        repo=str(repo),
        commit=head(repo),
        model=f"scripted:{script}",
        deploy_watch=DeployWatch(stack=stack),
    )
    with fast(runtime, deploy_poll_seconds="30"):
        (first,) = admit(parse_signal(signal), target)
        inv_id = first.investigation_id
        runtime.watcher.wait(inv_id, timeout_s=120)
        record_merge(inv_id, commit="beef" * 10, at=utcnow(), by="ana", source="github")

        def looked() -> bool:
            ac = stores().investigations.get(inv_id).aftercare
            return ac is not None and ac.watch == "pending"

        wait_for(looked, what="the deployment pending")
        # When the error arrives again
        (again,) = admit(parse_signal(signal), target)
    # Then it is counted on the investigation, which stays merged, with a note
    assert (again.started, again.occurrences) == (False, 2)
    assert stores().investigations.get(inv_id).status == "merged"
    notes = [e.event for e in log_of(inv_id) if isinstance(e.event, AftercareNote)]
    assert [n.kind for n in notes] == ["pending"]
    assert _messages(inv_id) == []


def test_a_new_error_in_the_files_a_deployed_fix_changed_is_flagged_as_its_regression(
    runtime: LocalRuntime, repo: Path, tmp_path: Path
) -> None:
    # Given a deployed fix that changed app/handler.py
    script = write_script(tmp_path / "s.jsonl", FIX_TURNS)
    with fast(runtime, verify_window_seconds="120"):
        fixed = _admit(log_signal("/aws/lambda/aftercare-reg", trace("reg")), repo, script)
        runtime.watcher.wait(fixed.investigation_id, timeout_s=120)
        record_merge(
            fixed.investigation_id, commit="d00d" * 10, at=utcnow(), by="bo", source="github"
        )
        wait_status(fixed.investigation_id, "deployed")
        # When a different error is raised in that file
        other = write_script(tmp_path / "o.jsonl", [[tool_use("finish", summary="looked")]])
        suspect = _admit(
            log_signal("/aws/lambda/aftercare-reg", trace("reg", OTHER_ERROR)), repo, other
        )
        runtime.watcher.wait(suspect.investigation_id, timeout_s=120)
    # Then it is a new investigation, told it may be a regression of that fix and may revert it
    assert suspect.started and suspect.investigation_id != fixed.investigation_id
    (notice,) = _messages(suspect.investigation_id)
    assert notice.text.startswith("This may be a regression of a fix deployed at")
    assert f"(investigation {fixed.investigation_id}) changed app/handler.py" in notice.text
    assert "you may propose reverting it" in notice.text
    # And the fix's investigation records it, with a note in its log
    ac = stores().investigations.get(fixed.investigation_id).aftercare
    assert ac is not None and ac.regressions == [suspect.investigation_id]
    notes = [e.event for e in log_of(fixed.investigation_id) if isinstance(e.event, AftercareNote)]
    assert [n.kind for n in notes] == ["regression"], [n.text for n in notes]
    assert suspect.investigation_id in notes[0].text


def test_an_instrumentation_pull_request_parks_until_the_next_occurrence_brings_telemetry(
    runtime: LocalRuntime, repo: Path, tmp_path: Path
) -> None:
    # Given an investigation whose signal lacks a stack trace, which opens the instrumentation
    # pull request of its service
    turns = [
        [
            tool_use(
                "open_instrumentation_pull_request",
                reason="The error line has no stack trace.",
                function_names=["aftercare-orders"],
            )
        ],
        [tool_use("finish", summary="Read the stack trace the new logs carry.")],
    ]
    script = write_script(tmp_path / "s.jsonl", turns)
    signal = log_signal(
        "/aws/lambda/aftercare-orders", "ERROR instrumented checkout failed for order 17"
    )
    first = _admit(signal, repo, script)
    parked = runtime.watcher.wait(first.investigation_id, timeout_s=120)
    # Then it is parked on that pull request, opened on the repository
    assert parked.status == "parked" and parked.awaiting_telemetry
    assert "waiting for telemetry: instrumentation pull request #1" in parked.outcome
    branches = subprocess.run(
        ["git", "-C", str(repo), "branch", "--list", "fixloop/onboarding"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "fixloop/onboarding" in branches
    # When the problem occurs again
    again = _admit(signal, repo, script)
    # Then the same investigation wakes, reads the new occurrence, and concludes
    assert (again.started, again.investigation_id) == (False, first.investigation_id)
    final = wait_status(first.investigation_id, "finished", timeout_s=120)
    assert final.awaiting_telemetry == ""
    (message,) = _messages(first.investigation_id)
    expected = "The problem occurred again after the instrumentation pull request "
    assert message.text.startswith(expected + parked.awaiting_telemetry)
    assert "ERROR instrumented checkout failed for order 17" in message.text
