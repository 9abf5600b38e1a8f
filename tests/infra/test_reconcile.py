"""Executions that end without Mark Failed reach ``reconcile`` (stacks/constructs/reconcile.py)."""

from __future__ import annotations

import json
from typing import Any

from fixloop.functions import spec_of
from stacks import FixloopStack
from stacks.constructs.reconcile import (
    EXECUTION_EVENT_MAX_AGE,
    EXECUTION_EVENT_RETRIES,
    execution_end_pattern,
)
from tests.infra.support import (
    acknowledgments,
    actions,
    all_function_ids,
    only,
    permissions_of,
    policy_of_role,
    resources,
    role_of_function,
    state_machine_arn_json,
    statement_resources,
    table_ids,
)


def reconcile_rule(template_json: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    ((rule_id, rule),) = [
        (k, r)
        for k, r in resources(template_json, "AWS::Events::Rule").items()
        if r["Properties"]["EventPattern"]["source"] == ["aws.states"]
    ]
    return rule_id, rule["Properties"]


def test_executions_that_fail_time_out_or_stop_are_sent_to_reconcile(
    template_json: dict[str, Any],
) -> None:
    # Given the rule on Step Functions events and the reconcile function
    rule_id, rule = reconcile_rule(template_json)
    fn_id = all_function_ids(template_json)["reconcile"]

    # When / Then it matches the investigation state machine's executions (by its ARN, or a
    # qualified one) that ended FAILED, TIMED_OUT or ABORTED
    pattern = rule["EventPattern"]
    assert pattern["detail-type"] == ["Step Functions Execution Status Change"]
    assert sorted(pattern["detail"]["status"]) == ["ABORTED", "FAILED", "TIMED_OUT"]
    machine = state_machine_arn_json()
    qualified = {"Fn::Join": ["", [*machine["Fn::Join"][1][:-1], machine["Fn::Join"][1][-1] + ":"]]}
    assert pattern["detail"]["stateMachineArn"] == [machine, {"prefix": qualified}]
    # And it invokes reconcile, retrying for an hour, then keeping the event in its
    # dead-letter queue (SQS-managed: EventBridge sends with its own principal)
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [fn_id, "Arn"]}
    assert target["RetryPolicy"] == {
        "MaximumEventAgeInSeconds": EXECUTION_EVENT_MAX_AGE.to_seconds(),
        "MaximumRetryAttempts": EXECUTION_EVENT_RETRIES,
    }
    dead_letters = template_json["Resources"][target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]]
    assert dead_letters["Properties"]["SqsManagedSseEnabled"] is True
    # And only this rule may invoke it (EventBridge, on the rule's behalf)
    (permission,) = permissions_of(template_json, fn_id)
    assert permission["Principal"] == "events.amazonaws.com"
    assert permission["SourceArn"] == {"Fn::GetAtt": [rule_id, "Arn"]}


def test_the_pattern_matches_the_documented_event() -> None:
    # Given an execution status change event as Step Functions sends it (EventBridge's
    # "Step Functions Execution Status Change"), for the machine and for another one
    arn = "arn:aws:states:us-east-1:123456789012:stateMachine:fixloop-investigation"
    pattern = execution_end_pattern(arn)

    def matches(machine: str, status: str) -> bool:
        detail = pattern["detail"]
        machines = detail["stateMachineArn"]
        return status in detail["status"] and (
            machine in machines
            or any(isinstance(m, dict) and machine.startswith(m["prefix"]) for m in machines)
        )

    # When / Then the ends of this machine's executions match, through an alias too, and
    # not a machine whose name merely starts the same, nor a success
    assert matches(arn, "FAILED") and matches(arn, "TIMED_OUT") and matches(arn, "ABORTED")
    assert matches(f"{arn}:live", "FAILED")
    assert not matches(f"{arn}-other", "FAILED")
    assert not matches(arn, "SUCCEEDED") and not matches(arn, "RUNNING")


def test_reconcile_may_close_and_announce_an_investigation_and_stop_its_sandbox(
    template_json: dict[str, Any],
) -> None:
    # Given reconcile's catalogue entry, its statements and its environment
    spec = spec_of("reconcile")
    statements = policy_of_role(template_json, role_of_function(template_json, "reconcile"))
    fn = template_json["Resources"][all_function_ids(template_json)["reconcile"]]["Properties"]
    env = fn["Environment"]["Variables"]
    tables = table_ids(template_json)
    cluster_id, _ = only(template_json, "AWS::ECS::Cluster")

    def written(action: str) -> set[str]:
        return {
            r["Fn::GetAtt"][0]
            for s in statements
            if action in actions(s)
            for r in statement_resources(s)
            if isinstance(r, dict) and "Fn::GetAtt" in r
        }

    # When / Then it is an entry point that writes records, posts and stops sandboxes, as
    # Mark Failed does
    assert (spec.surface.value, spec.posts, spec.stops_sandboxes) == ("entry point", True, True)
    assert spec.invoked_asynchronously
    assert {tables["Events"], tables["Investigations"], tables["Inbox"]} <= written(
        "dynamodb:PutItem"
    )
    assert tables["Sandboxes"] in written("dynamodb:UpdateItem")
    (stop,) = [s for s in statements if actions(s) == ["ecs:StopTask"]]
    assert f'"{cluster_id}"' in json.dumps(stop["Resource"])
    assert env["FIXLOOP_SANDBOX_CLUSTER"] == {"Fn::GetAtt": [cluster_id, "Arn"]}
    # And it starts nothing and invokes no model
    assert not [s for s in statements if "states:StartExecution" in actions(s)]
    assert not [s for s in statements if any(a.startswith("bedrock:") for a in actions(s))]


def test_reconcile_acknowledgments_are_its_queues(stack: FixloopStack) -> None:
    # Given the acknowledgments on the reconciliation's constructs
    by_rule = acknowledgments(stack.reconciliation.node.find_all())

    # When / Then the only one is the dead-letter queue's (itself the end of failures)
    assert set(by_rule) == {"AwsSolutions-SQS3"}
    ((path, reason),) = by_rule["AwsSolutions-SQS3"]
    assert path == stack.reconciliation.dead_letters.node.path
    assert reason.strip()
