"""The investigation state machine (stacks/constructs/loop.py): the real ASL inlined with every
function's published version, its version and alias, its role, and the synth-time checks of a
definition."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Annotations, Match, Template

from fixloop.functions import AFTERCARE_STEPS, LOOP_STEPS
from stacks.constructs.loop import (
    INVESTIGATION_ASL,
    InvalidDefinitionError,
    InvestigationLoop,
    MissingSubstitutionError,
    placeholders,
)
from tests.infra.support import (
    STATE_MACHINE_NAME,
    actions,
    function_ids,
    policy_of_role,
    resources,
    state_machine,
    state_machine_arn_json,
    state_machine_id,
    statement_resources,
    version_and_alias,
    walk_states,
)

PLACEHOLDERS = {
    spec.asl_placeholder: spec.folder for spec in LOOP_STEPS if spec.asl_placeholder is not None
}
"""ASL placeholder -> the loop step the stack substitutes for it (from the catalogue)."""


def test_state_machine_inlines_the_loop_with_every_function_substituted(
    template_json: dict[str, Any],
) -> None:
    # Given the synthesized state machine and the loop functions
    machine = state_machine(template_json)["Properties"]
    ids = function_ids(template_json)
    definition: str = machine["DefinitionString"]
    substitutions: dict[str, Any] = machine["DefinitionSubstitutions"]

    # When CloudFormation's substitution is applied: each function placeholder is a published
    # version of its function (Ref of an AWS::Lambda::Version is its qualified ARN), and
    # Continue As New names the state machine's alias
    versions = resources(template_json, "AWS::Lambda::Version")
    named = {}
    for name, value in substitutions.items():
        if name == "ContinueAsNewStateMachineArn":
            assert value == state_machine_arn_json("live")
            arn = "arn:aws:states:us-east-1:123456789012:stateMachine:x:live"
        else:
            version = versions[value["Ref"]]["Properties"]
            named[name] = version["FunctionName"]["Ref"]
            arn = f"arn:aws:lambda:us-east-1:123456789012:function:{named[name]}:1"
        definition = definition.replace("${" + name + "}", arn)

    # Then the real loop is inlined, fully substituted, each placeholder naming its function
    assert "${" not in definition
    asl = json.loads(definition)
    states = dict(walk_states(asl["States"]))
    for expected in (
        "Prepare",
        "Model Turn",
        "Route",
        "Run Tools",
        "Run Tool",
        "Deliver",
        "Continue As New",
        "Mark Failed",
    ):
        assert expected in states, expected
    assert named == {placeholder: ids[fn] for placeholder, fn in PLACEHOLDERS.items()}
    assert states["Model Turn"]["Parameters"]["FunctionName"].endswith(f"{ids['model_turn']}:1")
    assert states["Continue As New"]["Parameters"]["StateMachineArn"].endswith(":live")


def test_state_machine_version_and_alias_keep_running_executions_on_their_version(
    template_json: dict[str, Any],
) -> None:
    # Given the state machine, its version and its alias
    machine_id = state_machine_id(template_json)
    (_, version), (alias_id, alias) = version_and_alias(template_json, machine_id)

    # When / Then a version is published per definition revision and kept when replaced
    assert version["Properties"]["StateMachineArn"] == {"Ref": machine_id}
    assert version["Properties"]["StateMachineRevisionId"] == {
        "Fn::GetAtt": [machine_id, "StateMachineRevisionId"]
    }
    assert version["UpdateReplacePolicy"] == "Retain"
    # And the alias "live" sends every new execution to it
    (route,) = alias["Properties"]["RoutingConfiguration"]
    assert alias["Properties"]["Name"] == "live"
    assert route["Weight"] == 100
    assert route["StateMachineVersionArn"]["Fn::GetAtt"][1] == "Arn"
    assert template_json["Outputs"]["StateMachineAliasArn"]["Value"] == {"Ref": alias_id}
    # And the loop functions' versions are retained too (an old state machine version names
    # them), as the aftercare steps' are
    lambda_versions = resources(template_json, "AWS::Lambda::Version")
    assert len(lambda_versions) == len(LOOP_STEPS) + len(AFTERCARE_STEPS)
    assert {v.get("UpdateReplacePolicy") for v in lambda_versions.values()} == {"Retain"}


def test_every_task_state_has_a_retry(template_json: dict[str, Any]) -> None:
    # Given the inlined definition
    asl = json.loads(state_machine(template_json)["Properties"]["DefinitionString"])

    # When its Task states are listed, nested ones included
    tasks = {n: s for n, s in walk_states(asl["States"]) if s["Type"] == "Task"}

    # Then there are some, and each retries
    assert {"Prepare", "Model Turn", "Run Tool", "Continue As New", "Mark Failed"} <= set(tasks)
    for name, state in tasks.items():
        assert state.get("Retry"), f"Task {name!r} has no Retry"


def test_state_machine_is_standard_named_logged_and_traced(template: Template) -> None:
    # Given / When the app is synthesized
    # Then the state machine is Standard, has its fixed name, logs errors only and traces
    template.has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "StateMachineName": STATE_MACHINE_NAME,
            "StateMachineType": "STANDARD",
            "LoggingConfiguration": {"Level": "ERROR", "IncludeExecutionData": False},
            "TracingConfiguration": {"Enabled": True},
        },
    )


def test_state_machine_role_invokes_the_loop_functions_and_starts_itself(
    template_json: dict[str, Any],
) -> None:
    # Given the state machine's role and the expected ARN of the machine itself
    role_id = state_machine(template_json)["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    statements = policy_of_role(template_json, role_id)
    own_arn = state_machine_arn_json()

    # When the statements are grouped by action
    invoke = [
        r
        for s in statements
        if "lambda:InvokeFunction" in actions(s)
        for r in statement_resources(s)
    ]
    start = [
        r
        for s in statements
        if "states:StartExecution" in actions(s)
        for r in statement_resources(s)
    ]

    # Then it may start executions of itself (continue-as-new) and nothing else
    assert start == [own_arn]
    # And it invokes exactly the loop functions (and their qualified ARNs)
    invoked = {r["Fn::GetAtt"][0] for r in invoke if "Fn::GetAtt" in r}
    assert invoked == set(function_ids(template_json).values())
    assert len(invoke) == 2 * len(LOOP_STEPS)


def test_the_real_asl_uses_exactly_the_function_placeholders() -> None:
    # Given the state machine file
    # When its placeholders are found
    # Then they are those the stack provides
    assert placeholders(INVESTIGATION_ASL.read_text()) == set(PLACEHOLDERS) | {
        "ContinueAsNewStateMachineArn"
    }


def test_an_unused_substitution_only_warns(tmp_path: Path) -> None:
    # Given an ASL file that does not (yet) use one of the functions provided
    asl = tmp_path / "older.asl.json"
    asl.write_text(
        json.dumps(
            {
                "StartAt": "A",
                "States": {
                    "A": {
                        "Type": "Task",
                        "Resource": "${PrepareFunctionArn}",
                        "Retry": [{"ErrorEquals": ["States.ALL"]}],
                        "End": True,
                    }
                },
            }
        )
    )
    app = cdk.App(outdir=str(tmp_path / "cdk.out"))
    stack = cdk.Stack(app, "Older")
    fn = lambda_.Version.from_version_attributes(
        stack,
        "Fn",
        version="1",
        lambda_=lambda_.Function.from_function_attributes(
            stack,
            "Function",
            function_arn="arn:aws:lambda:us-east-1:123456789012:function:f",
            same_environment=True,
        ),
    )

    # When the loop is defined with both and the stack synthesized
    InvestigationLoop(
        stack,
        "Loop",
        functions={"PrepareFunctionArn": fn, "DispatchToolFunctionArn": fn},
        state_machine_name="x",
        definition_file=asl,
    )
    template = Template.from_stack(stack)

    # Then synthesis succeeds with a warning naming the unused substitution
    Annotations.from_stack(stack).has_warning(
        "/Older/Loop", Match.string_like_regexp("DispatchToolFunctionArn")
    )
    template.resource_count_is("AWS::StepFunctions::StateMachine", 1)


def test_a_placeholder_without_substitution_fails_synth(tmp_path: Path) -> None:
    # Given an ASL file using a placeholder the stack does not provide
    asl = tmp_path / "bad.asl.json"
    asl.write_text(
        json.dumps(
            {
                "StartAt": "A",
                "States": {
                    "A": {
                        "Type": "Task",
                        "Resource": "${SandboxFunctionArn}",
                        "Retry": [{"ErrorEquals": ["States.ALL"]}],
                        "End": True,
                    }
                },
            }
        )
    )
    stack = cdk.Stack(cdk.App(), "Bad")
    fn = lambda_.Version.from_version_attributes(
        stack,
        "Fn",
        version="1",
        lambda_=lambda_.Function.from_function_attributes(
            stack,
            "Function",
            function_arn="arn:aws:lambda:us-east-1:123456789012:function:f",
            same_environment=True,
        ),
    )

    # When the loop is defined with it / Then synthesis stops and names the placeholder
    with pytest.raises(MissingSubstitutionError, match="SandboxFunctionArn"):
        InvestigationLoop(
            stack,
            "Loop",
            functions={"PrepareFunctionArn": fn},
            state_machine_name="x",
            definition_file=asl,
        )


def test_a_definition_with_a_broken_transition_fails_synth(tmp_path: Path) -> None:
    # Given an ASL file whose Task goes to a state that does not exist
    asl = tmp_path / "broken.asl.json"
    asl.write_text(
        json.dumps(
            {
                "StartAt": "A",
                "States": {
                    "A": {
                        "Type": "Task",
                        "Resource": "${PrepareFunctionArn}",
                        "Retry": [{"ErrorEquals": ["States.ALL"]}],
                        "Next": "B",
                    }
                },
            }
        )
    )
    stack = cdk.Stack(cdk.App(), "Broken")
    fn = lambda_.Version.from_version_arn(
        stack, "Fn", "arn:aws:lambda:us-east-1:123456789012:function:f:1"
    )

    # When the loop is defined with it / Then synthesis stops and says what is wrong
    with pytest.raises(InvalidDefinitionError, match="goes to 'B', which does not exist"):
        InvestigationLoop(
            stack,
            "Loop",
            functions={"PrepareFunctionArn": fn},
            state_machine_name="x",
            definition_file=asl,
        )
