"""The aftercare in the CDK app: its own state machine, whose waits are Wait states between
invocations of the aftercare step, and the read permissions it needs to see a fix reach
production and hold there (Lambda versions, CloudFormation events, CodeDeploy, log lines,
alarm history), granted to that step alone, read-only, each on its resource type, and each
wildcard acknowledged with its reason."""

from __future__ import annotations

import json
from typing import Any

from fixloop.config import AFTERCARE_STATE_MACHINE_NAME
from stacks import FixloopStack
from stacks.nag import iam5_resource
from tests.infra.support import (
    acknowledgments,
    actions,
    all_function_ids,
    function_ids,
    policy_of_role,
    resources,
    state_machine,
    statement_resources,
    walk_states,
)

DEPLOYMENT_READS = {
    "lambda": ({"lambda:GetFunction", "lambda:ListVersionsByFunction"}, ":function:*"),
    "cloudformation": ({"cloudformation:DescribeStackEvents"}, ":stack/*/*"),
    "codedeploy": (
        {"codedeploy:ListDeployments", "codedeploy:GetDeployment"},
        ":deploymentgroup:*/*",
    ),
    "logs": ({"logs:FilterLogEvents"}, ":log-group:*"),
    "cloudwatch": (
        {"cloudwatch:DescribeAlarmHistory", "cloudwatch:DescribeAlarms"},
        ":alarm:*",
    ),
}
"""Service -> (the actions the aftercare reads it with, the end of the ARN they are on)."""

ONLY_AFTERCARE = {
    "cloudformation:DescribeStackEvents",
    "codedeploy:ListDeployments",
    "codedeploy:GetDeployment",
    "cloudwatch:DescribeAlarmHistory",
}
"""Actions no other function of fixloop is granted."""


def _functions(template_json: dict[str, Any]) -> dict[str, str]:
    """Every function of the app, the aftercare step included: name -> logical id."""
    return all_function_ids(template_json) | function_ids(template_json, "aftercare step")


def _role(template_json: dict[str, Any], name: str) -> str:
    fn = template_json["Resources"][_functions(template_json)[name]]
    role_id: str = fn["Properties"]["Role"]["Fn::GetAtt"][0]
    return role_id


def _arn_json(service: str, tail: str) -> dict[str, Any]:
    return {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                f":{service}:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                tail,
            ],
        ]
    }


def test_the_aftercare_step_reads_deployments_and_alarm_history_on_their_resource_types(
    template_json: dict[str, Any],
) -> None:
    # Given the aftercare step's role and what it is granted
    statements = policy_of_role(template_json, _role(template_json, "aftercare"))
    granted: dict[str, set[str]] = {}
    for statement in statements:
        assert statement["Effect"] == "Allow"
        for resource in statement_resources(statement):
            granted.setdefault(json.dumps(resource, sort_keys=True), set()).update(
                actions(statement)
            )

    # When / Then each source is read on its own resource type, with read actions only
    for service, (reads, tail) in DEPLOYMENT_READS.items():
        arn = json.dumps(_arn_json(service, tail), sort_keys=True)
        assert granted.get(arn) == reads, (service, granted.get(arn))
        verbs = {a.split(":", 1)[1] for a in reads}
        assert all(v.startswith(("Get", "List", "Describe", "Filter")) for v in verbs)
    # And none of these actions is granted on '*'
    everything = granted.get(json.dumps("*"), set())
    assert not everything & set().union(*(reads for reads, _ in DEPLOYMENT_READS.values()))


def test_only_the_aftercare_step_reads_stack_events_deployments_and_alarm_history(
    template_json: dict[str, Any],
) -> None:
    # Given every function of the app
    holders: dict[str, set[str]] = {}
    names = _functions(template_json)
    assert "aftercare" in names and "run_tool" in names
    for name in names:
        for statement in policy_of_role(template_json, _role(template_json, name)):
            for action in set(actions(statement)) & ONLY_AFTERCARE:
                holders.setdefault(action, set()).add(name)

    # When / Then the aftercare's own reads are its alone
    assert holders == {action: {"aftercare"} for action in ONLY_AFTERCARE}


def test_each_aftercare_wildcard_is_acknowledged_with_its_reason(stack: FixloopStack) -> None:
    # Given the cdk-nag acknowledgments on the aftercare step's role
    by_rule = acknowledgments([stack.functions.roles["aftercare"]])

    # When / Then each deployment source's wildcard has an Aftercare reason saying read-only
    for service, (_, tail) in DEPLOYMENT_READS.items():
        rule = iam5_resource(f"arn:<AWS::Partition>:{service}:<AWS::Region>:<AWS::AccountId>{tail}")
        ((path, reason),) = by_rule[rule]
        assert path == stack.functions.roles["aftercare"].node.path
        assert reason.startswith("Aftercare: ") and "(read-only)" in reason, (service, reason)


def test_the_aftercare_machine_waits_in_wait_states_between_invocations_of_its_step(
    template_json: dict[str, Any],
) -> None:
    # Given the aftercare state machine as synthesized
    machine = state_machine(template_json, AFTERCARE_STATE_MACHINE_NAME)["Properties"]
    asl = json.loads(machine["DefinitionString"])
    states = dict(walk_states(asl["States"]))

    # When / Then the waits for the deployment and the verification window are Wait states
    # (an execution waiting there runs no Lambda), their length set by the step
    for name in ("Wait For Deployment", "Verification Window"):
        assert states[name]["Type"] == "Wait", name
        assert states[name]["SecondsPath"] == "$.wait_seconds", name
    assert states["Verification Window"]["Next"] == "Verify"
    # And every Task invokes the published version of the aftercare step, and retries
    tasks = {n: s for n, s in states.items() if s["Type"] == "Task"}
    assert {"Watch Deployment", "Verify", "Aftercare Failed"} <= set(tasks)
    for name, task in tasks.items():
        assert task["Parameters"]["FunctionName"] == "${AftercareFunctionArn}", name
        assert task.get("Retry"), name
    (placeholder,) = machine["DefinitionSubstitutions"].values()
    version = resources(template_json, "AWS::Lambda::Version")[placeholder["Ref"]]
    function = version["Properties"]["FunctionName"]["Ref"]
    assert function == function_ids(template_json, "aftercare step")["aftercare"]
    assert machine["StateMachineType"] == "STANDARD"
