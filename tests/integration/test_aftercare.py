"""After the merge, on the embedded runtime: the real aftercare ASL follows a merged fix to
production (deployment from Lambda versions, CloudFormation, CodeDeploy or the service's
logs, else assumed), waits out the verification window in a Wait state, and verifies it or
reopens the same investigation."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fixloop import aws
from fixloop.aftercare import record_merge
from fixloop.cli.execution_stats import execution_stats
from fixloop.domain import DeployWatch, UserMessage
from fixloop.domain.signal import utcnow
from tests.integration.aftercare import (
    aftercare_execution,
    deliver,
    fast,
    history,
    log_signal,
    statuses_logged,
    wait_execution_ended,
    wait_status,
)
from tests.integration.scenario import log_of
from tests.runtime import LocalRuntime
from tests.support import alarm_event, put_alarm


def _merge(investigation_id: str, commit: str = "0123456789abcdef0123", **kw: object) -> None:
    at = kw.pop("at", utcnow())
    assert isinstance(at, datetime)
    record_merge(investigation_id, commit=commit, at=at, by="reviewer", source="github")


def test_no_source_assumes_the_deployment_and_the_window_is_a_wait_not_a_lambda(
    runtime: LocalRuntime, repo: Path, tmp_path: Path
) -> None:
    # Given a delivered fix of an alarm nothing deploys visibly, and a 3 s window
    with fast(runtime, deploy_assumed_delay_seconds="1", verify_window_seconds="3"):
        inv = deliver(runtime, repo, tmp_path / "s.jsonl", signal=alarm_event("aftercare-none"))
        # When its pull request is merged
        _merge(inv.investigation_id)
        merged = wait_status(inv.investigation_id, "merged", "deployed", "verified")
        # Then it is merged, then assumed deployed (saying so), then verified
        final = wait_status(inv.investigation_id, "verified")
        execution = aftercare_execution(runtime, inv.investigation_id)
        ended = wait_execution_ended(execution)
    assert merged.aftercare is not None and merged.aftercare.merges == 1
    ac = final.aftercare
    assert ac is not None and ac.phase == "verified" and ac.verifications == 1
    assert ac.deploy_source == "assumed"
    assert "no source tells when it was deployed" in ac.deploy_detail
    assert ac.deployed_at is not None and ac.merged_at is not None
    assert ac.deployed_at - ac.merged_at == timedelta(seconds=1)
    assert "no occurrence" not in ac.verify_detail  # not opened by triage: not counted
    assert "could not be read" in ac.verify_detail  # the alarm does not exist in this AWS
    assert statuses_logged(inv.investigation_id)[-3:] == ["merged", "deployed", "verified"]
    assert ended["status"] == "SUCCEEDED"
    # And the window was a Wait state of the execution, with no Lambda running through it
    events = history(execution)
    names = {e["id"]: e.get("stateEnteredEventDetails", {}).get("name") for e in events}
    (entered,) = [
        e
        for e in events
        if e["type"] == "WaitStateEntered" and names[e["id"]] == "Verification Window"
    ]
    (exited,) = [
        e
        for e in events
        if e["type"] == "WaitStateExited" and e["previousEventId"] == entered["id"]
    ]
    # The wait is absolute (until the deployment plus the window), so the steps before it
    # shorten it on a busy machine: it ends no earlier than the window does, and it is a wait
    assert exited["timestamp"] >= ac.deployed_at + timedelta(seconds=3) - timedelta(milliseconds=10)
    assert (exited["timestamp"] - entered["timestamp"]).total_seconds() >= 1
    between = [e["type"] for e in events if entered["id"] < e["id"] < exited["id"]]
    assert not any(t.startswith(("Task", "Lambda")) for t in between), between
    stats = execution_stats(aws.client("stepfunctions"), execution)
    assert sum(stats.lambda_ms.values()) < 2_500  # every step together, far below the window


def _zip(text: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("handler.py", text)
    return buf.getvalue()


def test_a_new_lambda_version_with_the_merge_commit_is_the_deployment(
    runtime: LocalRuntime, repo: Path, tmp_path: Path
) -> None:
    # Given a Lambda function the signal names, deployed before the merge
    name = "aftercare-lambda-orders"
    lam = aws.client("lambda")
    role = aws.client("iam").get_role(RoleName="fixloop-local")["Role"]["Arn"]
    lam.create_function(
        FunctionName=name,
        Runtime="python3.13",
        Role=role,
        Handler="handler.lambda_handler",
        Code={"ZipFile": _zip("old = 1\n")},
    )
    commit = "fe2d1c0b9a8776655443322110ffeeddccbbaa99"
    with fast(runtime, verify_window_seconds="1", deploy_assumed_delay_seconds="60"):
        inv = deliver(runtime, repo, tmp_path / "s.jsonl", signal=log_signal(f"/aws/lambda/{name}"))
        # When the fix is merged, and a new version carrying the merge commit is published
        _merge(inv.investigation_id, commit=commit, at=utcnow() - timedelta(seconds=1))
        wait_status(inv.investigation_id, "merged")
        lam.update_function_code(FunctionName=name, ZipFile=_zip("fixed = 1\n"))
        lam.update_function_configuration(
            FunctionName=name, Environment={"Variables": {"FIXLOOP_COMMIT": commit}}
        )
        lam.publish_version(FunctionName=name)
        # Then the investigation is deployed from that version, then verified
        final = wait_status(inv.investigation_id, "verified", timeout_s=60)
    ac = final.aftercare
    assert ac is not None
    assert ac.deploy_source == "lambda", ac.deploy_detail
    assert f"Lambda function {name}" in ac.deploy_detail
    assert f"commit {commit} (the fix)" in ac.deploy_detail


def test_a_stack_update_after_the_merge_is_the_deployment_and_before_it_the_fix_is_pending(
    runtime: LocalRuntime, repo: Path, tmp_path: Path
) -> None:
    # Given a service deployed by a CloudFormation stack (named in its target's watch)
    cfn = aws.client("cloudformation")
    stack = "aftercare-orders-stack"
    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}
    cfn.create_stack(StackName=stack, TemplateBody=json.dumps(template))
    with fast(runtime, verify_window_seconds="1"):
        inv = deliver(
            runtime,
            repo,
            tmp_path / "s.jsonl",
            signal=alarm_event("aftercare-cfn"),
            deploy_watch=DeployWatch(stack=stack),
        )
        # When the fix is merged, the stack has not been updated yet
        _merge(inv.investigation_id, at=utcnow() - timedelta(seconds=1))
        merged = wait_status(inv.investigation_id, "merged")
        wait_for_watch(inv.investigation_id)
        pending = wait_status(inv.investigation_id, "merged")
        # Then the fix is pending: the stack answers and shows no update since the merge
        assert pending.aftercare is not None and pending.aftercare.watch == "pending"
        # When the stack is updated
        template["Resources"]["Queue"] = {"Type": "AWS::SQS::Queue"}
        cfn.update_stack(StackName=stack, TemplateBody=json.dumps(template))
        final = wait_status(inv.investigation_id, "verified", timeout_s=60)
    assert merged.aftercare is not None
    ac = final.aftercare
    assert ac is not None and ac.deploy_source == "cloudformation"
    assert f"CloudFormation stack {stack}: UPDATE_COMPLETE" in ac.deploy_detail


def wait_for_watch(investigation_id: str) -> None:
    from fixloop.store import stores
    from tests.support import wait_for

    def looked() -> bool:
        ac = stores().investigations.get(investigation_id).aftercare
        return ac is not None and bool(ac.watch)

    wait_for(looked, what="the first look for the deployment")


def test_a_log_line_with_the_merge_commit_as_version_is_the_deployment(
    runtime: LocalRuntime, repo: Path, tmp_path: Path
) -> None:
    # Given a service whose log lines carry its deployed commit (fixloop onboard's logger)
    group = "/aws/lambda/aftercare-logs-orders"
    logs = aws.client("logs")
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    commit = "ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12"
    with fast(runtime, verify_window_seconds="1", deploy_assumed_delay_seconds="60"):
        inv = deliver(runtime, repo, tmp_path / "s.jsonl", signal=log_signal(group))
        merged_at = utcnow() - timedelta(seconds=5)
        _merge(inv.investigation_id, commit=commit, at=merged_at)
        # When the new code logs its first line
        now_ms = int(datetime.now(UTC).timestamp() * 1000)
        line = {"level": "INFO", "service": "orders", "version": commit, "message": "cold start"}
        logs.put_log_events(
            logGroupName=group,
            logStreamName="s",
            logEvents=[
                {"timestamp": now_ms - 60_000, "message": json.dumps(line | {"version": "old"})},
                {"timestamp": now_ms, "message": json.dumps(line)},
            ],
        )
        final = wait_status(inv.investigation_id, "verified", timeout_s=60)
    # Then that line is the deployment
    ac = final.aftercare
    assert ac is not None and ac.deploy_source == "logs"
    assert f"service orders in {group} with version={commit}" in ac.deploy_detail


def test_a_codedeploy_deployment_that_succeeded_after_the_merge_is_the_deployment(
    runtime: LocalRuntime, repo: Path, tmp_path: Path
) -> None:
    from moto.codedeploy.models import codedeploy_backends

    # Given a service deployed by CodeDeploy
    cd = aws.client("codedeploy")
    app, group = "aftercare-orders", "prod"
    cd.create_application(applicationName=app, computePlatform="Lambda")
    role = aws.client("iam").get_role(RoleName="fixloop-local")["Role"]["Arn"]
    cd.create_deployment_group(applicationName=app, deploymentGroupName=group, serviceRoleArn=role)
    with fast(runtime, verify_window_seconds="1", deploy_assumed_delay_seconds="60"):
        inv = deliver(
            runtime,
            repo,
            tmp_path / "s.jsonl",
            signal=alarm_event("aftercare-codedeploy"),
            deploy_watch=DeployWatch(codedeploy_application=app, codedeploy_group=group),
        )
        _merge(inv.investigation_id, at=utcnow() - timedelta(seconds=1))
        # When a deployment of the group succeeds (moto never completes one: it is told to)
        deployment = cd.create_deployment(
            applicationName=app,
            deploymentGroupName=group,
            revision={
                "revisionType": "S3",
                "s3Location": {"bucket": "b", "key": "k", "bundleType": "zip"},
            },
        )["deploymentId"]
        for backend in codedeploy_backends.values():
            for regional in backend.values():
                if deployment in regional.deployments:
                    regional.deployments[deployment].status = "Succeeded"
                    regional.deployments[deployment].complete_time = utcnow()
        final = wait_status(inv.investigation_id, "verified", timeout_s=60)
    ac = final.aftercare
    assert ac is not None and ac.deploy_source == "codedeploy"
    assert f"CodeDeploy deployment {deployment} of {app}/{group} succeeded" in ac.deploy_detail


def test_an_alarm_back_in_alarm_after_the_deployment_reopens_the_same_investigation(
    runtime: LocalRuntime, repo: Path, tmp_path: Path
) -> None:
    # Given an alarm-raised investigation whose fix was merged and deployed
    cw = aws.client("cloudwatch")
    alarm = "aftercare-alarm-recurs"
    put_alarm(cw, alarm)
    with fast(runtime, verify_window_seconds="3"):
        inv = deliver(runtime, repo, tmp_path / "s.jsonl", signal=alarm_event(alarm))
        _merge(inv.investigation_id)
        wait_status(inv.investigation_id, "deployed")
        # When the alarm goes back into ALARM within the window
        cw.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="errors again")
        # Then verification finds it, and the same investigation runs again and concludes
        final = wait_status(inv.investigation_id, "finished")
    assert final.investigation_id == inv.investigation_id
    ac = final.aftercare
    assert ac is not None and ac.recurrences == 1 and ac.round == 1
    assert f"the alarm {alarm} went into ALARM" in ac.recurred_detail
    assert "recurred" in statuses_logged(inv.investigation_id)
    (message,) = [e.event for e in log_of(inv.investigation_id) if isinstance(e.event, UserMessage)]
    assert message.text.startswith("Your fix did not hold. Pull request #1")
    assert f"the alarm {alarm} went into ALARM" in message.text
    assert message.in_reply_to  # the answer to its open_pull_request call


def test_an_alarm_ok_since_the_deployment_verifies_the_fix(
    runtime: LocalRuntime, repo: Path, tmp_path: Path
) -> None:
    cw = aws.client("cloudwatch")
    alarm = "aftercare-alarm-holds"
    put_alarm(cw, alarm)
    cw.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="errors")
    with fast(runtime, verify_window_seconds="2"):
        inv = deliver(runtime, repo, tmp_path / "s.jsonl", signal=alarm_event(alarm))
        _merge(inv.investigation_id)
        wait_status(inv.investigation_id, "deployed")
        cw.set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="quiet")
        final = wait_status(inv.investigation_id, "verified")
    ac = final.aftercare
    assert ac is not None and f"the alarm {alarm} is OK since" in ac.verify_detail
