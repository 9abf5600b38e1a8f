"""Infrastructure tests: synthesize the CDK app and assert on the CloudFormation template.

One module-scoped synth of the whole app (with a prebuilt stand-in layer, so pip does not run
for every test) backs most tests; ``test_real_layer_bundler`` runs the real local bundler once.
The sandbox image is only staged at synth (its build context copied), never built: no Docker.
Run from the repository root: ``python -m pytest tests/infra``.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# Node 20 is past end of life; jsii prints a banner on every start unless silenced. Must be
# set before aws_cdk starts its jsii runtime (at import).
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Annotations, Match, Template
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

from app import build_app, environment
from layers.bundler import LayerBundler, LayerTarget, runtime_requirements
from stacks import FixloopConfig, FixloopStack
from stacks.config import (
    CONTEXT_ALARM_EMAIL,
    CONTEXT_ALARM_PREFIXES,
    CONTEXT_ANTHROPIC_SECRET_NAME,
    CONTEXT_DAILY_TOKEN_BUDGET,
    CONTEXT_DEFAULT_GITHUB_REPO,
    CONTEXT_GITHUB_SECRET_NAME,
    CONTEXT_LAYER_ASSET_DIR,
    CONTEXT_MODEL,
    CONTEXT_SANDBOX_IMAGE_URI,
    CONTEXT_TARGETS,
    CONTEXT_WATCHED_LOG_GROUPS,
)
from stacks.constructs.layer import SharedLayer
from stacks.constructs.loop import (
    INVESTIGATION_ASL,
    InvalidDefinitionError,
    InvestigationLoop,
    MissingSubstitutionError,
    placeholders,
)
from stacks.constructs.sandbox import SANDBOX_COMMAND
from stacks.constructs.webhooks import ACCESS_LOG_FIELDS
from stacks.nag import flatten, iam5_resource

STATE_MACHINE_NAME = "fixloop-investigation"
SECRET_NAME = "fixloop/anthropic"
GITHUB_SECRET_NAME = "fixloop/github"
LOOP_FUNCTIONS = {
    # folder: (timeout seconds, memory MB)
    "prepare": (60, 512),
    "model_turn": (900, 1024),
    "run_tool": (300, 512),
    "deliver": (120, 512),
    "mark_failed": (60, 512),
    "dispatch_tool": (300, 512),
    "wait_for_human": (60, 512),
}
PLACEHOLDERS = {
    "PrepareFunctionArn": "prepare",
    "ModelTurnFunctionArn": "model_turn",
    "RunToolFunctionArn": "run_tool",
    "DeliverFunctionArn": "deliver",
    "MarkFailedFunctionArn": "mark_failed",
    "DispatchToolFunctionArn": "dispatch_tool",
    "WaitForHumanFunctionArn": "wait_for_human",
}
ENTRY_FUNCTIONS = {
    # folder: (timeout seconds, memory MB); invoked from outside, not by the state machine
    "github_webhook": (30, 512),
    "signal_trigger": (60, 512),
    "api_trigger": (60, 512),
    "repo_token": (30, 512),
    "slack_events": (30, 512),
    "linear_webhook": (30, 512),
    "investigations_api": (30, 512),
}
TRIGGERS = ("signal_trigger", "api_trigger")
WATCHED_LOG_GROUP = "/aws/lambda/orders"
WEBHOOK_SECRET_NAME = "fixloop/github-webhook"
WEBHOOK_API_NAME = "fixloop-webhooks"
SANDBOX_CPU, SANDBOX_MEMORY_MIB, SANDBOX_STORAGE_GIB = "1024", "2048", 30
SANDBOX_PORT = 8080
IMAGE_URI = "123456789012.dkr.ecr.us-east-1.amazonaws.com/fixloop-sandbox:1.2.3"


# ---------------------------------------------------------------------------------------------
# Fixtures and helpers
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def prebuilt_layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stand-in for the built layer: the real one is exercised once, in its own test."""
    root = tmp_path_factory.mktemp("layer")
    (root / "python" / "fixloop").mkdir(parents=True)
    (root / "python" / "fixloop" / "__init__.py").write_text("")
    return root


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, prebuilt_layer: Path) -> cdk.App:
    """The real app (with cdk-nag registered), an Anthropic secret configured."""
    return build_app(
        cdk.App(
            outdir=str(tmp_path_factory.mktemp("cdk.out")),
            context={
                CONTEXT_LAYER_ASSET_DIR: str(prebuilt_layer),
                CONTEXT_ANTHROPIC_SECRET_NAME: SECRET_NAME,
                CONTEXT_GITHUB_SECRET_NAME: GITHUB_SECRET_NAME,
            },
        )
    )


@pytest.fixture(scope="module")
def stack(app: cdk.App) -> FixloopStack:
    child = app.node.find_child("Fixloop")
    assert isinstance(child, FixloopStack)
    return child


@pytest.fixture(scope="module")
def template_json(app: cdk.App) -> dict[str, Any]:
    # app.synth() also runs the cdk-nag plugin: an unacknowledged finding fails here.
    started = time.perf_counter()
    assembly = app.synth()
    print(f"\nsynth of the app: {time.perf_counter() - started:.1f} s")
    template: dict[str, Any] = assembly.get_stack_by_name("Fixloop").template
    return template


@pytest.fixture(scope="module")
def template(template_json: dict[str, Any]) -> Template:
    return Template.from_json(template_json)


def resources(template_json: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template_json["Resources"].items() if r["Type"] == type_}


def function_ids(template_json: dict[str, Any], kind: str = "loop step") -> dict[str, str]:
    """Function folder name -> logical id of the loop steps (or, with ``kind="entry point"``,
    of the functions invoked from outside), from each function's description."""
    prefix = f"fixloop {kind}: "
    ids = {}
    for logical_id, fn in resources(template_json, "AWS::Lambda::Function").items():
        description = fn["Properties"].get("Description", "")
        if description.startswith(prefix):
            ids[description.removeprefix(prefix)] = logical_id
    return ids


def all_function_ids(template_json: dict[str, Any]) -> dict[str, str]:
    return function_ids(template_json) | function_ids(template_json, "entry point")


def policy_of_role(template_json: dict[str, Any], role_id: str) -> list[dict[str, Any]]:
    """Every statement of the AWS::IAM::Policy resources attached to ``role_id``."""
    statements: list[dict[str, Any]] = []
    for policy in resources(template_json, "AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


def statement_resources(statement: dict[str, Any]) -> list[Any]:
    resource = statement["Resource"]
    return resource if isinstance(resource, list) else [resource]


def role_of_function(template_json: dict[str, Any], name: str) -> str:
    fn = template_json["Resources"][all_function_ids(template_json)[name]]
    role_id: str = fn["Properties"]["Role"]["Fn::GetAtt"][0]
    return role_id


def state_machine(template_json: dict[str, Any]) -> dict[str, Any]:
    (machine,) = resources(template_json, "AWS::StepFunctions::StateMachine").values()
    return machine


def state_machine_arn_json(qualifier: str = "") -> dict[str, Any]:
    """The ARN of the investigation state machine as the template builds it from its name
    (with ``qualifier``: of its alias)."""
    return {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":states:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                f":stateMachine:{STATE_MACHINE_NAME}" + (f":{qualifier}" if qualifier else ""),
            ],
        ]
    }


def data_key_json(template_json: dict[str, Any]) -> str:
    """The ARN of the customer-managed data key, as JSON (a key of ``granted`` maps)."""
    key_id, _ = only(template_json, "AWS::KMS::Key")
    return json.dumps({"Fn::GetAtt": [key_id, "Arn"]})


def table_ids(template_json: dict[str, Any]) -> dict[str, str]:
    """Table name (Events, Investigations, Sandboxes, Fingerprints, Inbox, Waits) -> id."""
    ids: dict[str, str] = {}
    for logical_id in resources(template_json, "AWS::DynamoDB::Table"):
        for name in ("Events", "Investigations", "Sandboxes", "Fingerprints", "Inbox", "Waits"):
            if logical_id.startswith(f"Storage{name}"):
                ids[name] = logical_id
    return ids


def only(template_json: dict[str, Any], type_: str) -> tuple[str, dict[str, Any]]:
    """The logical id and resource of the single resource of ``type_``."""
    ((logical_id, resource),) = resources(template_json, type_).items()
    return logical_id, resource


def security_group_id(template_json: dict[str, Any], description_start: str) -> str:
    (logical_id,) = (
        k
        for k, sg in resources(template_json, "AWS::EC2::SecurityGroup").items()
        if sg["Properties"]["GroupDescription"].startswith(description_start)
    )
    return logical_id


def rules_of(template_json: dict[str, Any], sg_id: str, direction: str) -> list[dict[str, Any]]:
    """Every ingress or egress rule of a security group: inline and standalone."""
    inline_key, rule_type = {
        "ingress": ("SecurityGroupIngress", "AWS::EC2::SecurityGroupIngress"),
        "egress": ("SecurityGroupEgress", "AWS::EC2::SecurityGroupEgress"),
    }[direction]
    sg = template_json["Resources"][sg_id]["Properties"]
    rules: list[dict[str, Any]] = list(sg.get(inline_key, []))
    group = {"Fn::GetAtt": [sg_id, "GroupId"]}
    rules += [
        r["Properties"]
        for r in resources(template_json, rule_type).values()
        if r["Properties"]["GroupId"] == group
    ]
    return rules


def sandbox_task_role(template_json: dict[str, Any]) -> str:
    _, task_definition = only(template_json, "AWS::ECS::TaskDefinition")
    role_id: str = task_definition["Properties"]["TaskRoleArn"]["Fn::GetAtt"][0]
    return role_id


def walk_states(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every state, including those inside Map item processors and Parallel branches."""
    for name, state in states.items():
        yield name, state
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            yield from walk_states(processor["States"])
        for branch in state.get("Branches", []):
            yield from walk_states(branch["States"])


def permissions_of(template_json: dict[str, Any], fn_id: str) -> list[dict[str, Any]]:
    """The properties of every AWS::Lambda::Permission on the function ``fn_id``."""
    return [
        p["Properties"]
        for p in resources(template_json, "AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [fn_id, "Arn"]}
    ]


def acknowledgments(constructs: list[IConstruct]) -> dict[str, list[tuple[str, str]]]:
    """cdk-nag acknowledgments recorded on ``constructs`` (CDK keeps them as
    "aws:cdk:acknowledged-rules" metadata: {"<prefix>::<rule id>": reason}): rule id ->
    [(construct path, reason)]."""
    by_rule: dict[str, list[tuple[str, str]]] = {}
    for construct in constructs:
        for entry in construct.node.metadata:
            if entry.type == "aws:cdk:acknowledged-rules":
                for key, reason in dict(entry.data).items():
                    rule = str(key).split("::", 1)[-1]
                    by_rule.setdefault(rule, []).append((construct.node.path, str(reason)))
    return by_rule


# ---------------------------------------------------------------------------------------------
# The state machine
# ---------------------------------------------------------------------------------------------


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
    machine_id, _ = only(template_json, "AWS::StepFunctions::StateMachine")
    _, version = only(template_json, "AWS::StepFunctions::StateMachineVersion")
    alias_id, alias = only(template_json, "AWS::StepFunctions::StateMachineAlias")

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
    # them)
    lambda_versions = resources(template_json, "AWS::Lambda::Version")
    assert len(lambda_versions) == len(LOOP_FUNCTIONS)
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
    assert len(invoke) == 2 * len(LOOP_FUNCTIONS)


# ---------------------------------------------------------------------------------------------
# Storage
# ---------------------------------------------------------------------------------------------


def test_events_table_is_keyed_by_investigation_and_position_with_a_stream(
    template: Template,
) -> None:
    # Given / When the app is synthesized
    # Then Events has pk/sk strings, on-demand billing, PITR, SSE and a NEW_IMAGE stream
    template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "Properties": {
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                "AttributeDefinitions": [
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                ],
                "BillingMode": "PAY_PER_REQUEST",
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                "SSESpecification": {"SSEEnabled": True},
                "StreamSpecification": {"StreamViewType": "NEW_IMAGE"},
            },
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
        },
    )


def test_investigations_table_is_keyed_by_investigation(template: Template) -> None:
    # Given / When the app is synthesized
    # Then Investigations has a pk string only, and the same durability settings
    template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "Properties": {
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "BillingMode": "PAY_PER_REQUEST",
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                "SSESpecification": {"SSEEnabled": True},
                "StreamSpecification": Match.absent(),
            },
            "DeletionPolicy": "Retain",
        },
    )
    template.resource_count_is("AWS::DynamoDB::Table", 7)  # + Connections (live)


def test_sandboxes_table_is_ephemeral_with_a_ttl(template: Template) -> None:
    # Given / When the app is synthesized
    # Then Sandboxes is keyed by investigation, on-demand, PITR, SSE, with TTL on expires_at,
    # and (ephemeral state) deleted with the stack
    template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "Properties": {
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                "BillingMode": "PAY_PER_REQUEST",
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                "SSESpecification": {"SSEEnabled": True},
                "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
            },
            "DeletionPolicy": "Delete",
            "UpdateReplacePolicy": "Delete",
        },
    )


def test_blobs_bucket_is_private_encrypted_and_ssl_only(template: Template) -> None:
    # Given / When the app is synthesized
    # Then the bucket blocks public access, is encrypted, retained, and denies plain HTTP
    template.has_resource(
        "AWS::S3::Bucket",
        {
            "Properties": {
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True,
                    "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True,
                    "RestrictPublicBuckets": True,
                },
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        {
                            "BucketKeyEnabled": True,
                            "ServerSideEncryptionByDefault": {
                                "SSEAlgorithm": "aws:kms",
                                "KMSMasterKeyID": {
                                    "Fn::GetAtt": [Match.string_like_regexp("^DataKey"), "Arn"]
                                },
                            },
                        }
                    ]
                },
            },
            "DeletionPolicy": "Retain",
        },
    )
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            }
        },
    )


# ---------------------------------------------------------------------------------------------
# Functions
# ---------------------------------------------------------------------------------------------


def test_loop_functions_on_python313_arm64_with_the_layer(
    template_json: dict[str, Any],
) -> None:
    # Given the functions and the layer of the template
    ids = function_ids(template_json)
    (layer_id,) = resources(template_json, "AWS::Lambda::LayerVersion")

    # When each loop function's properties are read
    # Then each runs handler.lambda_handler on python3.13/arm64 with the layer, traced,
    # with its own memory and timeout
    assert set(ids) == set(LOOP_FUNCTIONS)
    for name, (timeout, memory) in LOOP_FUNCTIONS.items():
        props = template_json["Resources"][ids[name]]["Properties"]
        assert props["Runtime"] == "python3.13", name
        assert props["Architectures"] == ["arm64"], name
        assert props["Handler"] == "handler.lambda_handler", name
        assert props["Layers"] == [{"Ref": layer_id}], name
        assert props["TracingConfig"] == {"Mode": "Active"}, name
        assert (props["Timeout"], props["MemorySize"]) == (timeout, memory), name
    layer = template_json["Resources"][layer_id]["Properties"]
    assert layer["CompatibleRuntimes"] == ["python3.13"]
    assert layer["CompatibleArchitectures"] == ["arm64"]


def test_functions_environment(template_json: dict[str, Any]) -> None:
    # Given the functions' environments
    ids = function_ids(template_json)
    envs = {
        name: template_json["Resources"][ids[name]]["Properties"]["Environment"]["Variables"]
        for name in LOOP_FUNCTIONS
    }
    tables = table_ids(template_json)

    # When / Then every function gets the tables, bucket, model and Powertools settings
    for name, env in envs.items():
        assert env["FIXLOOP_EVENTS_TABLE"] == {"Ref": tables["Events"]}, name
        assert env["FIXLOOP_INVESTIGATIONS_TABLE"] == {"Ref": tables["Investigations"]}, name
        assert env["FIXLOOP_SANDBOXES_TABLE"] == {"Ref": tables["Sandboxes"]}, name
        assert env["FIXLOOP_FINGERPRINTS_TABLE"] == {"Ref": tables["Fingerprints"]}, name
        assert "FIXLOOP_BLOBS_BUCKET" in env, name
        assert env["FIXLOOP_MODEL"] == "bedrock", name
        assert env["POWERTOOLS_SERVICE_NAME"] == "fixloop", name
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "fixloop", name
        assert env["LOG_LEVEL"] == "INFO", name
    # And only prepare (continue-as-new) and the steps that wake a stopped investigation for
    # new messages know the state machine ARN, only model_turn the Anthropic secret
    assert [n for n, e in envs.items() if "FIXLOOP_STATE_MACHINE_ARN" in e] == [
        "prepare",
        "deliver",
        "wait_for_human",
    ]
    assert [n for n, e in envs.items() if "FIXLOOP_ANTHROPIC_SECRET_ARN" in e] == ["model_turn"]
    # And only dispatch_tool knows where sandboxes run
    assert [n for n, e in envs.items() if "FIXLOOP_SANDBOX_CLUSTER" in e] == ["dispatch_tool"]
    assert f":stateMachine:{STATE_MACHINE_NAME}" in json.dumps(
        envs["prepare"]["FIXLOOP_STATE_MACHINE_ARN"]
    )


def test_log_groups_keep_one_month(template: Template, template_json: dict[str, Any]) -> None:
    # Given / When the app is synthesized
    # Then one log group per function plus the state machine's, the sandbox tasks', the VPC
    # flow logs' and the webhook API's access and execution logs, each kept 30 days
    log_groups = resources(template_json, "AWS::Logs::LogGroup")
    live_functions = 4  # websocket, its authorizer, the stream fan-out, MCP
    assert len(log_groups) == len(LOOP_FUNCTIONS) + len(ENTRY_FUNCTIONS) + live_functions + 5
    for group in log_groups.values():
        assert group["Properties"]["RetentionInDays"] == 30
    for fn_id in all_function_ids(template_json).values():
        logging = template_json["Resources"][fn_id]["Properties"]["LoggingConfig"]
        assert logging["LogGroup"]["Ref"] in log_groups


# ---------------------------------------------------------------------------------------------
# Network
# ---------------------------------------------------------------------------------------------


def test_vpc_has_two_azs_one_nat_flow_logs_and_gateway_endpoints(
    template: Template, template_json: dict[str, Any]
) -> None:
    # Given the networking resources of the template
    subnets = resources(template_json, "AWS::EC2::Subnet").values()
    endpoints = resources(template_json, "AWS::EC2::VPCEndpoint").values()

    # When / Then two public and two private subnets, in AZs resolved at deploy time
    public = [s for s in subnets if s["Properties"]["MapPublicIpOnLaunch"]]
    private = [s for s in subnets if not s["Properties"]["MapPublicIpOnLaunch"]]
    assert (len(public), len(private)) == (2, 2)
    assert {json.dumps(s["Properties"]["AvailabilityZone"]) for s in subnets} == {
        json.dumps({"Fn::Select": [i, {"Fn::GetAZs": ""}]}) for i in (0, 1)
    }
    # And one NAT gateway (in a public subnet), flow logs of all traffic to CloudWatch Logs
    template.resource_count_is("AWS::EC2::NatGateway", 1)
    template.has_resource_properties(
        "AWS::EC2::FlowLog",
        {"ResourceType": "VPC", "TrafficType": "ALL", "LogDestinationType": "cloud-watch-logs"},
    )
    # And gateway endpoints for S3 and DynamoDB on the private route tables
    services = sorted(json.dumps(e["Properties"]["ServiceName"]) for e in endpoints)
    assert len(services) == 2
    assert ".dynamodb" in services[0] and ".s3" in services[1]
    for endpoint in endpoints:
        assert endpoint["Properties"]["VpcEndpointType"] == "Gateway"
        assert len(endpoint["Properties"]["RouteTableIds"]) == 2


def test_sandbox_security_group_admits_only_the_dispatch_function_on_8080(
    template_json: dict[str, Any],
) -> None:
    # Given the two security groups
    sandbox_sg = security_group_id(template_json, "fixloop sandbox tasks")
    dispatch_sg = security_group_id(template_json, "fixloop dispatch_tool")

    # When their rules are collected
    sandbox_in = rules_of(template_json, sandbox_sg, "ingress")
    sandbox_out = rules_of(template_json, sandbox_sg, "egress")
    dispatch_out = rules_of(template_json, dispatch_sg, "egress")

    # Then the sandbox accepts TCP 8080 from the dispatch group and nothing else
    assert [
        (r["IpProtocol"], r["FromPort"], r["ToPort"], r["SourceSecurityGroupId"])
        for r in sandbox_in
    ] == [("tcp", SANDBOX_PORT, SANDBOX_PORT, {"Fn::GetAtt": [dispatch_sg, "GroupId"]})]
    # And it may only open HTTPS connections
    assert [(r["IpProtocol"], r["FromPort"], r["ToPort"], r["CidrIp"]) for r in sandbox_out] == [
        ("tcp", 443, 443, "0.0.0.0/0")
    ]
    # And the dispatch function reaches sandboxes on 8080 and HTTPS APIs, nothing else
    assert sorted(
        (r["FromPort"], json.dumps(r.get("DestinationSecurityGroupId", r.get("CidrIp"))))
        for r in dispatch_out
    ) == [
        (443, json.dumps("0.0.0.0/0")),
        (SANDBOX_PORT, json.dumps({"Fn::GetAtt": [sandbox_sg, "GroupId"]})),
    ]


# ---------------------------------------------------------------------------------------------
# The sandbox
# ---------------------------------------------------------------------------------------------


def test_cluster_has_container_insights(template: Template) -> None:
    # Given / When the app is synthesized
    # Then the sandbox cluster records Container Insights
    template.resource_count_is("AWS::ECS::Cluster", 1)
    template.has_resource_properties(
        "AWS::ECS::Cluster",
        {"ClusterSettings": [{"Name": "containerInsights", "Value": "enabled"}]},
    )


def test_sandbox_task_definition(template_json: dict[str, Any]) -> None:
    # Given the Fargate task definition and the template's tables
    _, task_definition = only(template_json, "AWS::ECS::TaskDefinition")
    props = task_definition["Properties"]
    tables = table_ids(template_json)

    # When its single container is read
    (container,) = props["ContainerDefinitions"]

    # Then it is fixloop-sandbox on Fargate, ARM64/Linux, 1 vCPU, 2 GiB, 30 GiB of disk
    assert props["Family"] == "fixloop-sandbox"
    assert props["RequiresCompatibilities"] == ["FARGATE"]
    assert props["NetworkMode"] == "awsvpc"
    assert props["RuntimePlatform"] == {
        "CpuArchitecture": "ARM64",
        "OperatingSystemFamily": "LINUX",
    }
    assert (props["Cpu"], props["Memory"]) == (SANDBOX_CPU, SANDBOX_MEMORY_MIB)
    assert props["EphemeralStorage"] == {"SizeInGiB": SANDBOX_STORAGE_GIB}
    # And its container "sandbox" serves on 8080 with the sandbox command, logging to CloudWatch
    assert container["Name"] == "sandbox"
    assert container["Essential"] is True
    assert container["PortMappings"] == [{"ContainerPort": SANDBOX_PORT, "Protocol": "tcp"}]
    assert container["Command"] == ["python", "-m", "fixloop.sandbox", "serve", "--port", "8080"]
    assert container["LogConfiguration"]["LogDriver"] == "awslogs"
    log_group = container["LogConfiguration"]["Options"]["awslogs-group"]["Ref"]
    assert template_json["Resources"][log_group]["Properties"]["RetentionInDays"] == 30
    # And its environment names the tables, the bucket and the Powertools service, no secret
    env = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert env == {
        "FIXLOOP_EVENTS_TABLE": {"Ref": tables["Events"]},
        "FIXLOOP_INVESTIGATIONS_TABLE": {"Ref": tables["Investigations"]},
        "FIXLOOP_SANDBOXES_TABLE": {"Ref": tables["Sandboxes"]},
        "FIXLOOP_BLOBS_BUCKET": {"Ref": only(template_json, "AWS::S3::Bucket")[0]},
        "POWERTOOLS_SERVICE_NAME": "fixloop-sandbox",
        "FIXLOOP_REPO_TOKEN_FUNCTION": {
            "Ref": function_ids(template_json, "entry point")["repo_token"]
        },
    }
    assert "Secrets" not in container


def test_sandbox_image_is_staged_from_the_dockerfile_with_a_minimal_context(
    app: cdk.App, template_json: dict[str, Any]
) -> None:
    # Given the synthesized assembly's Docker image assets
    manifest = json.loads((Path(app.outdir) / "Fixloop.assets.json").read_text())
    ((_, image),) = manifest["dockerImages"].items()
    source = image["source"]
    context = Path(app.outdir) / source["directory"]

    # When the staged build context is listed
    staged = {p.relative_to(context).as_posix() for p in context.rglob("*") if p.is_file()}

    # Then it is built from sandbox/Dockerfile for linux/arm64
    assert source["dockerFile"] == "sandbox/Dockerfile"
    assert source["platform"] == "linux/arm64"
    # And the context holds what the Dockerfile copies and nothing else
    assert {"sandbox/Dockerfile", "pyproject.toml", "README.md"} <= staged
    assert "fixloop/sandbox/__main__.py" in staged
    assert not {p.split("/")[0] for p in staged} - {
        "sandbox",
        "fixloop",
        "pyproject.toml",
        "README.md",
    }
    assert not [p for p in staged if "__pycache__" in p or p.endswith(".pyc")]


def test_dockerfile_runs_the_task_command_as_an_unprivileged_user() -> None:
    # Given the sandbox Dockerfile
    dockerfile = (INVESTIGATION_ASL.parent.parent / "sandbox" / "Dockerfile").read_text()
    instructions = [
        line.split(maxsplit=1)
        for line in dockerfile.splitlines()
        if line.strip() and not line.startswith((" ", "#"))
    ]

    # When its instructions are read
    by_name: dict[str, list[str]] = {}
    for name, argument in instructions:
        by_name.setdefault(name, []).append(argument)

    # Then it starts from python:3.13-slim, drops root, exposes 8080, and its CMD (no
    # ENTRYPOINT, which the task's command would not replace) is the task's command
    assert by_name["FROM"] == ["python:3.13-slim"]
    assert by_name["USER"] == ["sandbox"]
    assert by_name["WORKDIR"][-1] == "/workspace"
    assert by_name["EXPOSE"] == ["8080"]
    assert "ENTRYPOINT" not in by_name
    assert json.loads(by_name["CMD"][0]) == SANDBOX_COMMAND
    assert "pip install --no-cache-dir ." in dockerfile


def test_dispatch_function_runs_in_the_private_subnets_with_the_sandbox_settings(
    template_json: dict[str, Any],
) -> None:
    # Given the dispatch function and the network
    fn = template_json["Resources"][function_ids(template_json)["dispatch_tool"]]["Properties"]
    private = [
        k
        for k, s in resources(template_json, "AWS::EC2::Subnet").items()
        if not s["Properties"]["MapPublicIpOnLaunch"]
    ]
    cluster_id, _ = only(template_json, "AWS::ECS::Cluster")
    task_definition_id, _ = only(template_json, "AWS::ECS::TaskDefinition")
    sandbox_sg = security_group_id(template_json, "fixloop sandbox tasks")
    dispatch_sg = security_group_id(template_json, "fixloop dispatch_tool")

    # When its VPC configuration and environment are read
    vpc = fn["VpcConfig"]
    env = fn["Environment"]["Variables"]

    # Then it is attached to the private subnets with its own security group
    assert sorted(s["Ref"] for s in vpc["SubnetIds"]) == sorted(private)
    assert vpc["SecurityGroupIds"] == [{"Fn::GetAtt": [dispatch_sg, "GroupId"]}]
    # And it knows the cluster, the task definition, where and how to reach a sandbox
    assert env["FIXLOOP_SANDBOX_CLUSTER"] == {"Fn::GetAtt": [cluster_id, "Arn"]}
    assert env["FIXLOOP_SANDBOX_TASK_DEFINITION"] == {"Ref": task_definition_id}
    assert env["FIXLOOP_SANDBOX_SUBNETS"] == {
        "Fn::Join": ["", [{"Ref": private[0]}, ",", {"Ref": private[1]}]]
    }
    assert env["FIXLOOP_SANDBOX_SECURITY_GROUPS"] == {"Fn::GetAtt": [sandbox_sg, "GroupId"]}
    assert (env["FIXLOOP_SANDBOX_CONTAINER"], env["FIXLOOP_SANDBOX_PORT"]) == ("sandbox", "8080")


def test_dispatch_function_runs_only_the_sandbox_task_and_passes_only_its_roles(
    template_json: dict[str, Any],
) -> None:
    # Given the dispatch function's statements and the sandbox resources
    statements = policy_of_role(template_json, role_of_function(template_json, "dispatch_tool"))
    cluster_id, _ = only(template_json, "AWS::ECS::Cluster")
    task_definition_id, task_definition = only(template_json, "AWS::ECS::TaskDefinition")
    tables = table_ids(template_json)

    def granted(action: str) -> list[dict[str, Any]]:
        return [s for s in statements if action in actions(s)]

    # When / Then it runs the sandbox task definition, on the sandbox cluster only
    (run,) = granted("ecs:RunTask")
    assert run["Resource"] == {"Ref": task_definition_id}
    assert run["Condition"] == {"ArnEquals": {"ecs:cluster": {"Fn::GetAtt": [cluster_id, "Arn"]}}}
    # And it describes, stops (and tags at launch) the cluster's tasks only
    for action in ("ecs:DescribeTasks", "ecs:StopTask", "ecs:TagResource"):
        (statement,) = granted(action)
        assert f'":task/", {{"Ref": "{cluster_id}"}}, "/*"' in json.dumps(statement["Resource"])
    assert granted("ecs:TagResource")[0]["Condition"] == {
        "StringEquals": {"ecs:CreateAction": "RunTask"}
    }
    # And it passes the task and execution roles, to ECS tasks only
    (pass_role,) = granted("iam:PassRole")
    assert pass_role["Resource"] == [
        task_definition["Properties"]["TaskRoleArn"],
        task_definition["Properties"]["ExecutionRoleArn"],
    ]
    assert pass_role["Condition"] == {
        "StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
    }
    # And it answers task tokens of the investigation state machine
    (answer,) = granted("states:SendTaskSuccess")
    assert set(actions(answer)) == {"states:SendTaskSuccess", "states:SendTaskFailure"}
    assert answer["Resource"] == state_machine_arn_json()
    # And it writes the Sandboxes table, but only reads Events and Investigations
    written = {
        r["Fn::GetAtt"][0]
        for s in statements
        if "dynamodb:PutItem" in actions(s)
        for r in statement_resources(s)
    }
    read = {
        r["Fn::GetAtt"][0]
        for s in statements
        if "dynamodb:GetItem" in actions(s)
        for r in statement_resources(s)
    }
    assert written == {tables["Sandboxes"]}
    assert read == {tables[t] for t in ("Events", "Investigations", "Sandboxes")}


# ---------------------------------------------------------------------------------------------
# The GitHub webhook
# ---------------------------------------------------------------------------------------------


def secret_ids(template_json: dict[str, Any], *prefixes: str) -> list[str]:
    secrets = resources(template_json, "AWS::SecretsManager::Secret")
    return [next(k for k in secrets if k.startswith(p)) for p in prefixes]


def webhook_secret_id(template_json: dict[str, Any]) -> str:
    (logical_id,) = (
        k
        for k, s in resources(template_json, "AWS::SecretsManager::Secret").items()
        if s["Properties"]["Name"] == WEBHOOK_SECRET_NAME
    )
    return logical_id


def test_webhook_secret_is_generated_40_letters_and_digits(
    template_json: dict[str, Any],
) -> None:
    # Given the webhook secret
    secret_id = webhook_secret_id(template_json)
    props = template_json["Resources"][secret_id]["Properties"]

    # When / Then its value is generated at deploy time (never in the template): 40
    # characters, no punctuation, no spaces
    assert "SecretString" not in props
    assert props["GenerateSecretString"] == {
        "PasswordLength": 40,
        "ExcludePunctuation": True,
        "IncludeSpace": False,
    }
    assert "GenerateStringKey" not in props["GenerateSecretString"]
    # And its ARN is an output, for `aws secretsmanager get-secret-value`
    assert template_json["Outputs"]["GitHubWebhookSecretArn"]["Value"] == {"Ref": secret_id}


def test_webhook_api_posts_github_deliveries_to_the_webhook_function(
    template_json: dict[str, Any],
) -> None:
    # Given the REST API, its resources, methods and the webhook function
    api_id, api = only(template_json, "AWS::ApiGateway::RestApi")
    fn_id = function_ids(template_json, "entry point")["github_webhook"]
    api_resources = resources(template_json, "AWS::ApiGateway::Resource")
    methods = resources(template_json, "AWS::ApiGateway::Method")

    # When the resource tree is walked from the root
    paths: dict[str, str] = {}
    for logical_id, resource in api_resources.items():
        props = resource["Properties"]
        assert props["RestApiId"] == {"Ref": api_id}
        paths[logical_id] = props["PathPart"]
    (github_id,) = (k for k, part in paths.items() if part == "github")
    parent = api_resources[github_id]["Properties"]["ParentId"]
    (webhooks_id,) = (k for k, part in paths.items() if part == "webhooks")
    root = api_resources[webhooks_id]["Properties"]["ParentId"]

    # Then the regional API fixloop-webhooks has /webhooks/{github,slack,linear}, /signals,
    # /investigations/{investigation_id}(/messages) and nothing else
    assert api["Properties"]["Name"] == WEBHOOK_API_NAME
    assert api["Properties"]["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
    assert sorted(paths.values()) == [
        "github",
        "investigations",
        "linear",
        "messages",
        "signals",
        "slack",
        "webhooks",
        "{investigation_id}",
    ]
    assert parent == {"Ref": webhooks_id}
    assert root == {"Fn::GetAtt": [api_id, "RootResourceId"]}
    # And the one method of /webhooks/github, POST, without authorizer, is a Lambda proxy to
    # github_webhook
    (method,) = (m for m in methods.values() if m["Properties"]["ResourceId"] == {"Ref": github_id})
    props = method["Properties"]
    assert (props["HttpMethod"], props["ResourceId"]) == ("POST", {"Ref": github_id})
    assert props["AuthorizationType"] == "NONE"
    assert "RequestValidatorId" not in props
    integration = props["Integration"]
    assert (integration["Type"], integration["IntegrationHttpMethod"]) == ("AWS_PROXY", "POST")
    assert {"Fn::GetAtt": [fn_id, "Arn"]} in integration["Uri"]["Fn::Join"][1]
    assert "RequestTemplates" not in integration
    # And only API Gateway's deployed POST /webhooks/github may invoke the function (no
    # test-invoke permission)
    permissions = [
        p["Properties"]
        for p in resources(template_json, "AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [fn_id, "Arn"]}
    ]
    (permission,) = permissions
    assert permission["Principal"] == "apigateway.amazonaws.com"
    source = permission["SourceArn"]["Fn::Join"][1]
    assert {"Ref": api_id} in source
    assert source[-1] == "/POST/webhooks/github"
    # And the URL to give GitHub is the stage's URL + webhooks/github
    (_, stage) = only(template_json, "AWS::ApiGateway::Stage")
    url = template_json["Outputs"]["GitHubWebhookUrl"]["Value"]["Fn::Join"][1]
    assert url[0] == "https://" and {"Ref": api_id} in url
    assert url[-1] == "/webhooks/github"
    assert stage["Properties"]["StageName"] == "v1"


def test_webhook_stage_throttles_traces_and_writes_json_access_logs(
    template_json: dict[str, Any],
) -> None:
    # Given the API's one stage
    stage_id, stage = only(template_json, "AWS::ApiGateway::Stage")
    props = stage["Properties"]

    # When its method settings and access log setting are read
    settings, *per_method = props["MethodSettings"]
    access = props["AccessLogSetting"]
    log_group_id = access["DestinationArn"]["Fn::GetAtt"][0]
    # (API Gateway substitutes each $context variable; error.messageString comes quoted)
    line = json.loads(re.sub(r'"?\$context\.[\w.]+"?', '"x"', access["Format"]))

    # Then stage v1 is traced, throttled at 50 requests/s with bursts of 100, with metrics
    # and ERROR execution logs, but no request/response bodies in the logs
    assert props["StageName"] == "v1"
    assert props["TracingEnabled"] is True
    assert settings == {
        "HttpMethod": "*",
        "ResourcePath": "/*",
        "ThrottlingRateLimit": 50,
        "ThrottlingBurstLimit": 100,
        "MetricsEnabled": True,
        "LoggingLevel": "ERROR",
        "DataTraceEnabled": False,
    }
    # And each method has its own limit: signals (each may start an investigation) lower
    limits = {
        m["ResourcePath"]: (m["HttpMethod"], m["ThrottlingRateLimit"], m["ThrottlingBurstLimit"])
        for m in per_method
    }
    assert limits == {"/~1webhooks~1github": ("POST", 50, 100), "/~1signals": ("POST", 10, 20)}
    # And access logs go, one JSON object a request, to a log group kept a month
    log_group = template_json["Resources"][log_group_id]
    assert log_group["Type"] == "AWS::Logs::LogGroup"
    assert log_group["Properties"]["RetentionInDays"] == 30
    assert set(line) == set(ACCESS_LOG_FIELDS)
    assert {"requestId", "ip", "status", "httpMethod", "resourcePath", "requestTime"} <= set(line)
    for name, variable in {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "status": "$context.status",
    }.items():
        assert f'"{name}":"{variable}"' in access["Format"]
    # And execution logs have a log group kept a month, created before the stage
    (execution_logs,) = (
        k
        for k, g in resources(template_json, "AWS::Logs::LogGroup").items()
        if "API-Gateway-Execution-Logs_" in json.dumps(g["Properties"].get("LogGroupName"))
    )
    assert template_json["Resources"][execution_logs]["Properties"]["RetentionInDays"] == 30
    assert execution_logs in stage["DependsOn"]
    # And the account-level CloudWatch role API Gateway logs with is set before the stage
    account_id, account = only(template_json, "AWS::ApiGateway::Account")
    assert account_id in stage["DependsOn"]
    role = template_json["Resources"][account["Properties"]["CloudWatchRoleArn"]["Fn::GetAtt"][0]]
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "apigateway.amazonaws.com"}
    assert "AmazonAPIGatewayPushToCloudWatchLogs" in json.dumps(role["Properties"])
    assert stage_id


def test_webhook_function_outside_the_vpc_with_its_secret_and_the_state_machine(
    template_json: dict[str, Any],
) -> None:
    # Given the webhook function, the other functions and the webhook secret
    entry = function_ids(template_json, "entry point")
    props = template_json["Resources"][entry["github_webhook"]]["Properties"]
    env = props["Environment"]["Variables"]
    tables = table_ids(template_json)
    (layer_id,) = resources(template_json, "AWS::Lambda::LayerVersion")

    # When / Then it is an entry point (with the triggers), on python3.13/arm64 with the
    # layer, traced, 30 s, and not attached to the VPC
    assert set(entry) == set(ENTRY_FUNCTIONS)
    assert (props["Runtime"], props["Architectures"]) == ("python3.13", ["arm64"])
    assert props["Handler"] == "handler.lambda_handler"
    assert props["Layers"] == [{"Ref": layer_id}]
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert (props["Timeout"], props["MemorySize"]) == ENTRY_FUNCTIONS["github_webhook"]
    assert "VpcConfig" not in props
    # And it knows the tables, the webhook secret and the state machine it resumes
    assert env["FIXLOOP_EVENTS_TABLE"] == {"Ref": tables["Events"]}
    assert env["FIXLOOP_INVESTIGATIONS_TABLE"] == {"Ref": tables["Investigations"]}
    assert env["FIXLOOP_GITHUB_WEBHOOK_SECRET_ARN"] == {"Ref": webhook_secret_id(template_json)}
    assert env["FIXLOOP_STATE_MACHINE_ARN"] == state_machine_arn_json("live")
    assert env["POWERTOOLS_SERVICE_NAME"] == "fixloop"
    # And no other function knows the webhook secret
    assert [
        name
        for name, fn_id in all_function_ids(template_json).items()
        if "FIXLOOP_GITHUB_WEBHOOK_SECRET_ARN"
        in template_json["Resources"][fn_id]["Properties"]["Environment"]["Variables"]
    ] == ["github_webhook"]
    # And the state machine does not invoke it (not a loop step)
    substitutions = state_machine(template_json)["Properties"]["DefinitionSubstitutions"]
    assert entry["github_webhook"] not in json.dumps(substitutions)


def test_webhook_role_reads_its_secret_starts_the_state_machine_and_writes_records_only(
    template_json: dict[str, Any],
) -> None:
    # Given the webhook function's role and statements, and the resources it should reach
    role_id = role_of_function(template_json, "github_webhook")
    statements = policy_of_role(template_json, role_id)
    tables = table_ids(template_json)
    secret = {"Ref": webhook_secret_id(template_json)}

    def granted(prefix: str) -> list[dict[str, Any]]:
        return [s for s in statements if any(a.startswith(prefix) for a in actions(s))]

    # When / Then it may read the value of the webhook secret, and nothing else of Secrets
    # Manager (no DescribeSecret, no other secret)
    (secret_read,) = granted("secretsmanager:")
    assert actions(secret_read) == ["secretsmanager:GetSecretValue"]
    assert statement_resources(secret_read) == [secret]
    # And it may start executions of the investigation state machine and answer its task
    # tokens (a comment resumes a waiting investigation), and do nothing else with it
    assert sorted(a for s in granted("states:") for a in actions(s)) == [
        "states:SendTaskSuccess",
        "states:StartExecution",
    ]
    assert all(statement_resources(s) == [state_machine_arn_json()] for s in granted("states:"))
    # And it reads and writes Events, Investigations, Inbox and Waits, not Sandboxes
    written = {
        r["Fn::GetAtt"][0]
        for s in granted("dynamodb:")
        if "dynamodb:PutItem" in actions(s)
        for r in statement_resources(s)
    }
    touched = {r["Fn::GetAtt"][0] for s in granted("dynamodb:") for r in statement_resources(s)}
    assert (
        written
        == touched
        == {
            tables["Events"],
            tables["Investigations"],
            tables["Inbox"],
            tables["Waits"],
        }
    )
    # (objects of the blobs bucket: an event body too large for an item goes there)
    assert sorted(a for st in granted("s3:") for a in actions(st)) == [
        "s3:GetObject",
        "s3:ListBucket",
        "s3:PutObject",
    ]
    assert not granted("ec2:") and not granted("ecs:")
    assert not granted("iam:") and not granted("bedrock:")
    # And every statement is one of those, its log group's, or X-Ray's
    assert {a.split(":")[0] for s in statements for a in actions(s)} == {
        "secretsmanager",
        "kms",
        "states",
        "dynamodb",
        "s3",
        "logs",
        "xray",
    }
    # And no other role may read the webhook secret
    readers = {
        json.dumps(policy["Properties"]["Roles"])
        for policy in resources(template_json, "AWS::IAM::Policy").values()
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if secret in statement_resources(s)
    }
    assert readers == {json.dumps([{"Ref": role_id}])}


def test_webhook_acknowledgments_are_scoped_and_have_reasons(stack: FixloopStack) -> None:
    # Given the cdk-nag acknowledgments recorded on the webhook constructs
    by_rule = acknowledgments([stack.github_webhook_secret, *stack.webhooks.node.find_all()])
    several = {"AwsSolutions-COG4", "AwsSolutions-APIG4"}
    assert all(len(places) == 1 for rule, places in by_rule.items() if rule not in several)
    acknowledged = {rule: places[0] for rule, places in by_rule.items()}

    # When / Then the open methods (no authorizer, no Cognito) are acknowledged on those
    # methods alone, because GitHub, Slack and Linear sign their deliveries
    method_path = stack.webhooks.github_method.node.path
    signed = [m.node.path for m in stack.webhooks.channel_methods]
    open_methods = dict(by_rule["AwsSolutions-APIG4"])
    assert set(open_methods) == {method_path, *signed}
    assert "X-Hub-Signature-256" in open_methods[method_path]
    assert all("X-Slack-Signature" in open_methods[p] for p in signed)
    # And Cognito's absence on those methods and on the IAM-authorized /signals and
    # /investigations, each for its own reason
    cognito = dict(by_rule["AwsSolutions-COG4"])
    iam_paths = [m.node.path for m in stack.webhooks.investigation_methods]
    assert set(cognito) == {
        method_path,
        stack.webhooks.signals_method.node.path,
        *signed,
        *iam_paths,
    }
    assert "X-Hub-Signature-256" in cognito[method_path]
    assert "AWS_IAM" in cognito[stack.webhooks.signals_method.node.path]
    assert all("AWS_IAM" in cognito[p] for p in iam_paths)
    # And the missing request validator, because the body must reach the function unchanged
    path, reason = acknowledged["AwsSolutions-APIG2"]
    assert path == stack.webhooks.api.node.path
    assert "byte for byte" in reason
    # And the WAF-less stage, the managed CloudWatch policy and the unrotated secret
    assert acknowledged["AwsSolutions-APIG3"][0] == stack.webhooks.api.deployment_stage.node.path
    assert acknowledged["AwsSolutions-SMG4"][0] == stack.github_webhook_secret.node.path
    (iam4,) = (rule for rule in acknowledged if rule.startswith("AwsSolutions-IAM4"))
    assert iam4.endswith("service-role/AmazonAPIGatewayPushToCloudWatchLogs]")
    assert all(reason.strip() for places in by_rule.values() for _, reason in places)


# ---------------------------------------------------------------------------------------------
# Triggers: alarms, error logs and authenticated signals become investigations
# ---------------------------------------------------------------------------------------------


def test_alarm_rule_sends_alarms_going_into_alarm_to_the_signal_trigger(
    template_json: dict[str, Any],
) -> None:
    # Given the one EventBridge rule, the signal trigger and the dead-letter queue
    rule_id, rule = only(template_json, "AWS::Events::Rule")
    props = rule["Properties"]
    fn_id = function_ids(template_json, "entry point")["signal_trigger"]
    queue_id, _ = only(template_json, "AWS::SQS::Queue")

    # When its pattern and its one target are read
    (target,) = props["Targets"]

    # Then it is enabled on the default bus and matches every alarm going into ALARM (no
    # prefix is configured) but fixloop's own
    assert "EventBusName" not in props
    assert props["State"] == "ENABLED"
    assert props["EventPattern"] == {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "detail": {
            "state": {"value": ["ALARM"]},
            "alarmName": [{"anything-but": {"prefix": "fixloop-"}}],
        },
    }
    # And it invokes signal_trigger, retrying for an hour at most (3 retries), then puts the
    # event in the dead-letter queue
    assert target["Arn"] == {"Fn::GetAtt": [fn_id, "Arn"]}
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 3}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [queue_id, "Arn"]}}
    assert "Input" not in target and "InputTransformer" not in target
    # And only this rule may invoke the function through EventBridge (CloudWatch Logs is its
    # other caller: test_signal_trigger_may_be_invoked_by_cloudwatch_logs_of_this_account)
    permissions = permissions_of(template_json, fn_id)
    assert sorted(p["Principal"] for p in permissions) == [
        "events.amazonaws.com",
        "logs.amazonaws.com",
    ]
    (permission,) = (p for p in permissions if p["Principal"] == "events.amazonaws.com")
    assert permission["SourceArn"] == {"Fn::GetAtt": [rule_id, "Arn"]}


def test_alarm_dead_letter_queue_is_encrypted_ssl_only_and_written_by_the_rule_only(
    template_json: dict[str, Any],
) -> None:
    # Given the dead-letter queue, its policy and the alarm rule
    queue_id, queue = only(template_json, "AWS::SQS::Queue")
    _, policy = only(template_json, "AWS::SQS::QueuePolicy")
    rule_id, _ = only(template_json, "AWS::Events::Rule")

    # When the policy's statements are split by effect
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    (deny,) = (s for s in statements if s["Effect"] == "Deny")
    (allow,) = (s for s in statements if s["Effect"] == "Allow")

    # Then the queue is encrypted (SQS-managed keys) and keeps messages 14 days
    assert queue["Properties"]["SqsManagedSseEnabled"] is True
    assert queue["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert policy["Properties"]["Queues"] == [{"Ref": queue_id}]
    # And it refuses every request without TLS
    assert deny["Action"] == "sqs:*"
    assert deny["Principal"] == {"AWS": "*"}
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    # And EventBridge may send it messages on behalf of the alarm rule only
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert allow["Action"] == "sqs:SendMessage"
    assert allow["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]}}}
    # And its URL is an output, to read and replay what could not be delivered
    assert template_json["Outputs"]["AlarmDeadLetterQueueUrl"]["Value"] == {"Ref": queue_id}


def test_signal_trigger_may_be_invoked_by_cloudwatch_logs_of_this_account(
    template_json: dict[str, Any],
) -> None:
    # Given the signal trigger
    fn_id = function_ids(template_json, "entry point")["signal_trigger"]

    # When its resource-based permissions for CloudWatch Logs are read (the other one is the
    # alarm rule's: test_alarm_rule_sends_alarms_going_into_alarm_to_the_signal_trigger)
    (permission,) = (
        p for p in permissions_of(template_json, fn_id) if p["Principal"] != "events.amazonaws.com"
    )

    # Then CloudWatch Logs may invoke it for any log group of this account and region
    assert permission["Action"] == "lambda:InvokeFunction"
    assert permission["Principal"] == "logs.amazonaws.com"
    assert permission["SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert permission["SourceArn"] == {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":logs:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                ":log-group:*",
            ],
        ]
    }
    # And no log group is subscribed by default (the onboarding template subscribes the
    # user's), which is why the function's ARN is an output
    assert not resources(template_json, "AWS::Logs::SubscriptionFilter")
    assert template_json["Outputs"]["LogsTriggerArn"]["Value"] == {"Fn::GetAtt": [fn_id, "Arn"]}


def test_signals_are_posted_with_iam_authorization_to_the_api_trigger(
    template_json: dict[str, Any],
) -> None:
    # Given the REST API, the /signals resource and the api trigger
    api_id, _ = only(template_json, "AWS::ApiGateway::RestApi")
    fn_id = function_ids(template_json, "entry point")["api_trigger"]
    ((signals_id, signals),) = (
        (k, r)
        for k, r in resources(template_json, "AWS::ApiGateway::Resource").items()
        if r["Properties"]["PathPart"] == "signals"
    )

    # When the methods of /signals are read
    methods = [
        m["Properties"]
        for m in resources(template_json, "AWS::ApiGateway::Method").values()
        if m["Properties"]["ResourceId"] == {"Ref": signals_id}
    ]

    # Then /signals hangs off the root and has one method, POST, with IAM authorization
    # (SigV4-signed requests; execute-api:Invoke checked before the function runs)
    assert signals["Properties"]["ParentId"] == {"Fn::GetAtt": [api_id, "RootResourceId"]}
    (props,) = methods
    assert props["HttpMethod"] == "POST"
    assert props["AuthorizationType"] == "AWS_IAM"
    assert "AuthorizerId" not in props
    # And it is a Lambda proxy integration of api_trigger
    integration = props["Integration"]
    assert (integration["Type"], integration["IntegrationHttpMethod"]) == ("AWS_PROXY", "POST")
    assert {"Fn::GetAtt": [fn_id, "Arn"]} in integration["Uri"]["Fn::Join"][1]
    # And only the deployed POST /signals may invoke the function
    (permission,) = permissions_of(template_json, fn_id)
    assert permission["Principal"] == "apigateway.amazonaws.com"
    source = permission["SourceArn"]["Fn::Join"][1]
    assert {"Ref": api_id} in source
    assert source[-1] == "/POST/signals"
    # And the URL is an output
    url = template_json["Outputs"]["SignalsUrl"]["Value"]["Fn::Join"][1]
    assert url[0] == "https://" and {"Ref": api_id} in url
    assert url[-1] == "/signals"


def test_trigger_functions_outside_the_vpc_know_targets_and_the_state_machine(
    template_json: dict[str, Any],
) -> None:
    # Given the trigger functions, the tables and the layer
    entry = function_ids(template_json, "entry point")
    tables = table_ids(template_json)
    (layer_id,) = resources(template_json, "AWS::Lambda::LayerVersion")
    blobs_id, _ = only(template_json, "AWS::S3::Bucket")

    for name in TRIGGERS:
        # When each one's properties are read
        props = template_json["Resources"][entry[name]]["Properties"]
        env = props["Environment"]["Variables"]

        # Then it runs on python3.13/arm64 with the layer, traced, 60 s, outside the VPC
        assert (props["Runtime"], props["Architectures"]) == ("python3.13", ["arm64"]), name
        assert props["Handler"] == "handler.lambda_handler", name
        assert props["Layers"] == [{"Ref": layer_id}], name
        assert props["TracingConfig"] == {"Mode": "Active"}, name
        assert (props["Timeout"], props["MemorySize"]) == ENTRY_FUNCTIONS[name], name
        assert "VpcConfig" not in props, name
        # And it knows the state machine it starts, where signals go and the default model
        assert env["FIXLOOP_STATE_MACHINE_ARN"] == state_machine_arn_json("live"), name
        assert env["FIXLOOP_TARGETS"] == "{}", name
        assert env["FIXLOOP_DEFAULT_GITHUB_REPO"] == "", name
        assert env["FIXLOOP_MODEL"] == "bedrock", name
        # And the records triage reads and writes
        assert env["FIXLOOP_FINGERPRINTS_TABLE"] == {"Ref": tables["Fingerprints"]}, name
        assert env["FIXLOOP_EVENTS_TABLE"] == {"Ref": tables["Events"]}, name
        assert env["FIXLOOP_INVESTIGATIONS_TABLE"] == {"Ref": tables["Investigations"]}, name
        assert env["FIXLOOP_BLOBS_BUCKET"] == {"Ref": blobs_id}, name
        assert not {
            "FIXLOOP_GITHUB_WEBHOOK_SECRET_ARN",
            "FIXLOOP_ANTHROPIC_SECRET_ARN",
            "FIXLOOP_SANDBOX_CLUSTER",
        } & set(env), name
    # And no other function is told where signals go
    assert sorted(
        name
        for name, fn_id in all_function_ids(template_json).items()
        if "FIXLOOP_TARGETS"
        in template_json["Resources"][fn_id]["Properties"]["Environment"]["Variables"]
    ) == sorted(TRIGGERS)


def test_trigger_roles_reach_only_triage_records_blob_objects_and_the_state_machine(
    template_json: dict[str, Any],
) -> None:
    # Given the resources a trigger may reach
    tables = table_ids(template_json)
    blobs_id, _ = only(template_json, "AWS::S3::Bucket")
    records = {
        json.dumps({"Fn::GetAtt": [tables[t], "Arn"]})
        for t in ("Fingerprints", "Investigations", "Events", "Inbox")
    }
    objects = json.dumps({"Fn::Join": ["", [{"Fn::GetAtt": [blobs_id, "Arn"]}, "/*"]]})
    machine = json.dumps(state_machine_arn_json())

    for name in TRIGGERS:
        # When its role's allowed actions are grouped by resource
        role_id = role_of_function(template_json, name)
        fn = template_json["Resources"][all_function_ids(template_json)[name]]["Properties"]
        own_logs = json.dumps({"Fn::GetAtt": [fn["LoggingConfig"]["LogGroup"]["Ref"], "Arn"]})
        granted: dict[str, set[str]] = {}
        for statement in policy_of_role(template_json, role_id):
            assert statement["Effect"] == "Allow", name
            assert "Condition" not in statement and "NotAction" not in statement, name
            for resource in statement_resources(statement):
                granted.setdefault(json.dumps(resource), set()).update(actions(statement))

        # Then it reaches Fingerprints, Investigations, Events and Inbox (a recurrence notice),
        # the blobs' objects and the
        # state machine, besides its own log group and X-Ray: no other table, no bucket
        # listing, no secret, no sandbox
        assert set(granted) == records | {
            objects,
            machine,
            own_logs,
            data_key_json(template_json),
            json.dumps("*"),
        }, name
        for table in records:
            assert {
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:Query",
            } <= granted[table], name
            assert all(a.startswith("dynamodb:") for a in granted[table]), name
        assert granted[objects] == {"s3:GetObject", "s3:PutObject"}, name
        assert granted[machine] == {"states:StartExecution"}, name
        assert granted[own_logs] == {"logs:CreateLogStream", "logs:PutLogEvents"}, name
        assert granted[json.dumps("*")] == {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
        # And nothing is attached to the role any other way
        role = template_json["Resources"][role_id]["Properties"]
        assert "ManagedPolicyArns" not in role and "Policies" not in role, name


def test_trigger_acknowledgments_are_scoped_and_have_reasons(stack: FixloopStack) -> None:
    # Given the acknowledgments on the triggers' constructs and on the trigger roles
    by_rule = acknowledgments(stack.triggers.node.find_all())
    blob_objects = iam5_resource(flatten(stack.storage.blobs.arn_for_objects("*"), stack))

    # When / Then the only one of the triggers' constructs is the dead-letter queue's
    # (a DLQ without a DLQ of its own)
    assert set(by_rule) == {"AwsSolutions-SQS3"}
    ((path, reason),) = by_rule["AwsSolutions-SQS3"]
    assert path == stack.triggers.alarm_dead_letters.node.path
    assert "dead-letter queue" in reason
    # And each trigger role has only the X-Ray wildcard and the blobs' objects acknowledged
    for name in TRIGGERS:
        role_rules = acknowledgments([stack.functions.roles[name]])
        assert set(role_rules) == {iam5_resource("*"), blob_objects}, name
        assert all(reason.strip() for places in role_rules.values() for _, reason in places)


def test_context_subscribes_watched_log_groups_and_narrows_the_alarm_rule(
    tmp_path: Path, prebuilt_layer: Path
) -> None:
    # Given the app with watched log groups, alarm prefixes, targets (a JSON string, as
    # `cdk synth -c` passes it) and a default repository
    targets = {"orders-*": {"github_repo": "acme/orders", "branch": "main"}}
    app = build_app(
        cdk.App(
            outdir=str(tmp_path / "cdk.out"),
            context={
                CONTEXT_LAYER_ASSET_DIR: str(prebuilt_layer),
                CONTEXT_WATCHED_LOG_GROUPS: [WATCHED_LOG_GROUP],
                CONTEXT_ALARM_PREFIXES: ["orders-", "billing-"],
                CONTEXT_TARGETS: json.dumps(targets),
                CONTEXT_DEFAULT_GITHUB_REPO: "acme/app",
            },
        )
    )

    # When it is synthesized (cdk-nag included)
    started = time.perf_counter()
    template_json = app.synth().get_stack_by_name("Fixloop").template
    print(f"\nsynth with trigger context: {time.perf_counter() - started:.1f} s")
    entry = function_ids(template_json, "entry point")

    # Then the watched log group sends its error lines and stack traces to signal_trigger
    (subscription,) = resources(template_json, "AWS::Logs::SubscriptionFilter").values()
    assert subscription["Properties"] == {
        "LogGroupName": WATCHED_LOG_GROUP,
        "FilterPattern": "?ERROR ?Error ?Exception ?Traceback",
        "DestinationArn": {"Fn::GetAtt": [entry["signal_trigger"], "Arn"]},
    }
    # And it is created after the account-wide invoke permission, which is the only one
    # CloudWatch Logs has (no permission per log group)
    (permission_id,) = (
        k
        for k, p in resources(template_json, "AWS::Lambda::Permission").items()
        if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [entry["signal_trigger"], "Arn"]}
        and p["Properties"]["Principal"] == "logs.amazonaws.com"
    )
    assert subscription["DependsOn"] == [permission_id]
    # And the alarm rule only matches alarms named with one of the prefixes
    _, rule = only(template_json, "AWS::Events::Rule")
    assert rule["Properties"]["EventPattern"]["detail"] == {
        "state": {"value": ["ALARM"]},
        "alarmName": [{"prefix": "orders-"}, {"prefix": "billing-"}],
    }
    # And the triggers know the targets and the default repository
    for name in TRIGGERS:
        env = template_json["Resources"][entry[name]]["Properties"]["Environment"]["Variables"]
        assert json.loads(env["FIXLOOP_TARGETS"]) == targets, name
        assert env["FIXLOOP_DEFAULT_GITHUB_REPO"] == "acme/app", name


def test_data_is_encrypted_with_one_rotated_retained_customer_managed_key(
    template_json: dict[str, Any],
) -> None:
    # Given the data key
    key_id, key = only(template_json, "AWS::KMS::Key")
    key_arn = {"Fn::GetAtt": [key_id, "Arn"]}

    # When / Then it rotates, outlives the stack and is aliased alias/fixloop
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == key["UpdateReplacePolicy"] == "Retain"
    (alias,) = resources(template_json, "AWS::KMS::Alias").values()
    assert alias["Properties"]["AliasName"] == "alias/fixloop"
    # And every table is encrypted with it and has point-in-time recovery
    tables = resources(template_json, "AWS::DynamoDB::Table")
    assert len(tables) == 7
    for table_id, table in tables.items():
        props = table["Properties"]
        assert props["SSESpecification"] == {
            "KMSMasterKeyId": key_arn,
            "SSEEnabled": True,
            "SSEType": "KMS",
        }, table_id
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}, (
            table_id
        )
    # And so is every log group and every secret the stack creates (the GitHub webhook's,
    # Slack's and Linear's)
    for group_id, group in resources(template_json, "AWS::Logs::LogGroup").items():
        assert group["Properties"]["KmsKeyId"] == key_arn, group_id
    secrets = resources(template_json, "AWS::SecretsManager::Secret")
    assert len(secrets) == 5
    for secret_id, secret in secrets.items():
        assert secret["Properties"]["KmsKeyId"] == key_arn, secret_id
    # And CloudWatch Logs may use it for this account's and region's log groups only
    logs_statements = [
        st
        for st in key["Properties"]["KeyPolicy"]["Statement"]
        if "logs." in json.dumps(st.get("Principal", {}))
    ]
    (statement,) = logs_statements
    assert "aws:logs:arn" in json.dumps(statement["Condition"])
    assert not [a for a in actions(statement) if "*" in a]


def test_user_pool_for_the_interactive_endpoints(template_json: dict[str, Any]) -> None:
    # Given the Cognito user pool and its client
    pool_id, pool = only(template_json, "AWS::Cognito::UserPool")
    _, client = only(template_json, "AWS::Cognito::UserPoolClient")
    props = pool["Properties"]

    # When / Then only administrators create users, who sign in with a TOTP second factor
    assert props["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert props["MfaConfiguration"] == "ON"
    assert props["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]
    assert props["Policies"]["PasswordPolicy"]["MinimumLength"] >= 12
    assert pool["DeletionPolicy"] == "Retain"
    # And the web client is public (no secret), SRP only, hides whether a user exists
    c = client["Properties"]
    assert c["UserPoolId"] == {"Ref": pool_id}
    assert c.get("GenerateSecret", False) is False
    assert set(c["ExplicitAuthFlows"]) == {"ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"}
    assert c["PreventUserExistenceErrors"] == "ENABLED"
    # And the stack exposes it for the endpoints that attach to it
    assert template_json["Outputs"]["UserPoolId"]["Value"] == {"Ref": pool_id}


def test_auth_construct_gives_endpoints_an_authorizer_and_jwt_settings(
    stack: FixloopStack,
) -> None:
    # Given the stack's auth construct
    auth = stack.auth

    # When an endpoint asks for what it needs to verify tokens
    env = auth.verification_environment()

    # Then it gets the pool, the client and the issuer
    assert set(env) == {
        "FIXLOOP_COGNITO_USER_POOL_ID",
        "FIXLOOP_COGNITO_CLIENT_ID",
        "FIXLOOP_COGNITO_ISSUER",
    }
    issuer = json.dumps(stack.resolve(env["FIXLOOP_COGNITO_ISSUER"]))
    assert "https://cognito-idp." in issuer and "AuthUserPool" in issuer


# ---------------------------------------------------------------------------------------------
# Observability
# ---------------------------------------------------------------------------------------------

OWN_ALARMS = {
    "fixloop-executions-failed",
    "fixloop-executions-timed-out",
    "fixloop-lambda-errors-1",
    "fixloop-lambda-errors-2",
    "fixloop-lambda-throttles-1",
    "fixloop-lambda-throttles-2",
    "fixloop-model-errors",
    "fixloop-model-throttles",
    "fixloop-undelivered-alarms",
}


def alarms_by_name(template_json: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        a["Properties"]["AlarmName"]: a["Properties"]
        for a in resources(template_json, "AWS::CloudWatch::Alarm").values()
    }


def test_alarms_on_fixloop_itself_notify_the_encrypted_topic(
    template_json: dict[str, Any],
) -> None:
    # Given the alarms, the topic and the state machine
    alarms = alarms_by_name(template_json)
    topic_id, topic = only(template_json, "AWS::SNS::Topic")
    machine_id, _ = only(template_json, "AWS::StepFunctions::StateMachine")

    # When / Then the expected alarms exist (no token budget is configured), each notifying
    # the topic, which is encrypted with the data key
    assert set(alarms) == OWN_ALARMS
    for name, alarm in alarms.items():
        assert alarm["AlarmActions"] == [{"Ref": topic_id}], name
        assert alarm["TreatMissingData"] == "notBreaching", name
    assert topic["Properties"]["KmsMasterKeyId"] == json.loads(data_key_json(template_json))
    # And failed executions are read from the state machine's own metric
    failed = alarms["fixloop-executions-failed"]
    assert (failed["Namespace"], failed["MetricName"]) == ("AWS/States", "ExecutionsFailed")
    assert failed["Dimensions"] == [{"Name": "StateMachineArn", "Value": {"Ref": machine_id}}]
    # And model errors from fixloop's EMF metric, as the handlers write it
    model = alarms["fixloop-model-errors"]
    assert (model["Namespace"], model["MetricName"]) == ("fixloop", "ModelErrors")
    assert model["Dimensions"] == [{"Name": "service", "Value": "fixloop"}]
    # And Lambda errors are summed over every fixloop function, at most ten per alarm (the
    # most an alarm's metric math may read)
    groups = [
        {
            d["Value"]["Ref"]
            for q in alarms[name]["Metrics"]
            if "MetricStat" in q
            for d in q["MetricStat"]["Metric"]["Dimensions"]
        }
        for name in ("fixloop-lambda-errors-1", "fixloop-lambda-errors-2")
    ]
    assert all(0 < len(group) <= 10 for group in groups)
    assert groups[0] | groups[1] == set(all_function_ids(template_json).values())
    assert not groups[0] & groups[1]
    # And the alarm rule leaves these alarms out (fixloop does not investigate itself)
    _, rule = only(template_json, "AWS::Events::Rule")
    assert rule["Properties"]["EventPattern"]["detail"]["alarmName"] == [
        {"anything-but": {"prefix": "fixloop-"}}
    ]


def test_dashboard_shows_investigations_model_tokens_tools_and_alarms(
    template_json: dict[str, Any],
) -> None:
    # Given the dashboard
    _, dashboard = only(template_json, "AWS::CloudWatch::Dashboard")
    body = json.dumps(dashboard["Properties"]["DashboardBody"])

    # When / Then it is named fixloop and graphs fixloop's metrics and its alarms
    assert dashboard["Properties"]["DashboardName"] == "fixloop"
    for metric in (
        "InvestigationsStarted",
        "InvestigationsConcluded",
        "InvestigationsFailed",
        "ModelTurns",
        "ModelThrottles",
        "InputTokens",
        "OutputTokens",
        "ToolFailures",
        "ExecutionsFailed",
    ):
        assert metric in body, metric
    assert "fixloop alarms" in body


def test_secrets_email_token_budget_and_image_from_context(
    tmp_path: Path, prebuilt_layer: Path
) -> None:
    # Given the app with a GitHub App secret, an alarm address, a daily token budget and a
    # sandbox image already in ECR
    app = build_app(
        cdk.App(
            outdir=str(tmp_path / "cdk.out"),
            context={
                CONTEXT_LAYER_ASSET_DIR: str(prebuilt_layer),
                CONTEXT_GITHUB_SECRET_NAME: "fixloop/github-app",
                CONTEXT_ALARM_EMAIL: "oncall@example.com",
                CONTEXT_DAILY_TOKEN_BUDGET: "5000000",
                CONTEXT_SANDBOX_IMAGE_URI: IMAGE_URI,
            },
        )
    )

    # When it is synthesized (cdk-nag included)
    assembly = app.synth()
    template_json = assembly.get_stack_by_name("Fixloop").template

    # Then the sandbox runs the given image: nothing to build with Docker at deploy time
    _, task = only(template_json, "AWS::ECS::TaskDefinition")
    (container,) = task["Properties"]["ContainerDefinitions"]
    assert container["Image"] == IMAGE_URI
    assets = json.loads((Path(assembly.directory) / "Fixloop.assets.json").read_text())
    assert assets["dockerImages"] == {}
    # And deliver and repo_token (only) know the GitHub secret and may read it
    ids = all_function_ids(template_json)
    for name, fn_id in ids.items():
        env = template_json["Resources"][fn_id]["Properties"]["Environment"]["Variables"]
        assert ("FIXLOOP_GITHUB_SECRET_ARN" in env) == (name in ("deliver", "repo_token")), name
    for reader in ("deliver", "repo_token"):
        reads = [
            s
            for s in policy_of_role(template_json, role_of_function(template_json, reader))
            if "secretsmanager:GetSecretValue" in actions(s)
        ]
        assert "fixloop/github-app" in json.dumps(reads), reader
    # And the address is subscribed to the alarm topic
    _, subscription = only(template_json, "AWS::SNS::Subscription")
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == "oncall@example.com"
    # And the token budget has its alarm, over a day
    budget = alarms_by_name(template_json)["fixloop-token-budget"]
    assert budget["Threshold"] == 5_000_000
    assert {q["MetricStat"]["Period"] for q in budget["Metrics"] if "MetricStat" in q} == {86400}


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({CONTEXT_MODEL: "openai:gpt"}, "model must be"),
        ({CONTEXT_ALARM_EMAIL: "not-an-address"}, "alarm_email"),
        ({CONTEXT_DAILY_TOKEN_BUDGET: "lots"}, "whole number"),
    ],
)
def test_bad_configuration_fails_synth_with_the_reason(
    context: dict[str, str], message: str
) -> None:
    # Given / When an app's configuration is read / Then a clear error names the setting
    with pytest.raises((ValueError, TypeError), match=message):
        FixloopConfig.from_context(cdk.App(context=context).node)


# ---------------------------------------------------------------------------------------------
# Least privilege
# ---------------------------------------------------------------------------------------------


def test_no_statement_has_wildcard_actions_or_data_access_on_every_resource(
    template_json: dict[str, Any],
) -> None:
    # Given every IAM statement in the template
    statements = [
        s
        for policy in resources(template_json, "AWS::IAM::Policy").values()
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert statements

    # When / Then no action has a wildcard (no "*", "s3:*", "dynamodb:Put*"...), except the
    # two KMS action families CDK's table and bucket grants name, on the data key only; and
    # no DynamoDB or S3 statement applies to every resource
    key = json.loads(data_key_json(template_json))
    kms_families = {"kms:ReEncrypt*", "kms:GenerateDataKey*"}
    for statement in statements:
        wildcards = {a for a in actions(statement) if "*" in a}
        if wildcards:
            assert wildcards <= kms_families, statement
            assert statement_resources(statement) == [key], statement
        if actions(statement) == ["dynamodb:ListStreams"]:
            continue  # the stream fan-out's event source: lists stream names, reads no data
        if any(a.startswith(("dynamodb:", "s3:")) for a in actions(statement)):
            assert "*" not in statement_resources(statement), statement


def test_only_model_turn_invokes_bedrock_and_only_named_functions_read_secrets(
    template_json: dict[str, Any],
) -> None:
    # Given each function's policy statements
    by_function = {
        name: policy_of_role(template_json, role_of_function(template_json, name))
        for name in [*LOOP_FUNCTIONS, "repo_token"]
    }

    # When the Bedrock and Secrets Manager statements are picked out
    def granted(name: str, prefix: str) -> list[dict[str, Any]]:
        return [s for s in by_function[name] if any(a.startswith(prefix) for a in actions(s))]

    # Then only model_turn invokes models and reads the Anthropic key; only deliver and
    # repo_token read the GitHub credentials; the steps that post to Slack and Linear read
    # those two credentials; each on scoped (not "*") resources
    channel_credentials = [
        {"Ref": k} for k in secret_ids(template_json, "SlackBotToken", "LinearApiKey")
    ]
    posts = {"prepare", "deliver", "mark_failed", "wait_for_human"}
    github_readers = {"deliver", "repo_token"}

    def github(name: str) -> list[dict[str, Any]]:
        return [
            s
            for s in granted(name, "secretsmanager:")
            if GITHUB_SECRET_NAME in json.dumps(s["Resource"])
        ]

    for name in by_function:
        if name == "model_turn":
            continue
        assert not granted(name, "bedrock:"), name
        others = [
            r
            for s in granted(name, "secretsmanager:")
            if s not in github(name)
            for r in statement_resources(s)
        ]
        assert others == (channel_credentials if name in posts else []), name
        assert bool(github(name)) == (name in github_readers), name
    for name in github_readers:
        (statement,) = github(name)
        assert set(actions(statement)) == {
            "secretsmanager:GetSecretValue",
            "secretsmanager:DescribeSecret",
        }
        assert f":secret:{GITHUB_SECRET_NAME}-??????" in json.dumps(statement["Resource"])
    (bedrock,) = granted("model_turn", "bedrock:")
    assert set(actions(bedrock)) == {
        "bedrock:InvokeModel",
        "bedrock:InvokeModelWithResponseStream",
    }
    arns = json.dumps(statement_resources(bedrock))
    assert "*" not in statement_resources(bedrock)
    assert "foundation-model/anthropic." in arns and "inference-profile/" in arns
    (secret,) = granted("model_turn", "secretsmanager:")
    assert f":secret:{SECRET_NAME}-??????" in json.dumps(secret["Resource"])


def test_blobs_only_for_the_functions_that_store_blobs(template_json: dict[str, Any]) -> None:
    # Given each loop function's policy statements
    # When the S3 actions are collected
    s3_actions = {
        name: sorted(
            a
            for s in policy_of_role(template_json, role_of_function(template_json, name))
            for a in actions(s)
            if a.startswith("s3:")
        )
        for name in LOOP_FUNCTIONS
    }

    # Then prepare, model_turn, run_tool and deliver (the workspace snapshot) read and write
    # objects, dispatch_tool reads (offloaded event bodies); mark_failed has none
    rw = ["s3:GetObject", "s3:ListBucket", "s3:PutObject"]
    assert s3_actions == {
        "prepare": rw,
        "model_turn": rw,
        "run_tool": rw,
        "deliver": rw,
        "mark_failed": [],
        "dispatch_tool": ["s3:GetObject"],
        "wait_for_human": [],
    }


def test_sandbox_task_role_reaches_only_its_records_and_task_tokens(
    template_json: dict[str, Any],
) -> None:
    # Given the sandbox task role, everything attached to it, and the data resources
    role_id = sandbox_task_role(template_json)
    role = template_json["Resources"][role_id]["Properties"]
    statements = policy_of_role(template_json, role_id)
    tables = table_ids(template_json)
    blobs_id, _ = only(template_json, "AWS::S3::Bucket")
    repo_token = function_ids(template_json, "entry point")["repo_token"]

    def objects(prefix: str) -> dict[str, Any]:
        return {"Fn::Join": ["", [{"Fn::GetAtt": [blobs_id, "Arn"]}, f"/{prefix}*"]]}

    expected = {
        json.dumps({"Fn::GetAtt": [tables["Events"], "Arn"]}): {
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:Query",
        },
        json.dumps({"Fn::GetAtt": [tables["Investigations"], "Arn"]}): {"dynamodb:GetItem"},
        json.dumps({"Fn::GetAtt": [tables["Sandboxes"], "Arn"]}): {
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
        },
        json.dumps(objects("sandboxes/")): {"s3:GetObject", "s3:PutObject"},
        json.dumps(objects("events/")): {"s3:GetObject", "s3:PutObject"},
        json.dumps(state_machine_arn_json()): {
            "states:SendTaskSuccess",
            "states:SendTaskFailure",
            "states:SendTaskHeartbeat",
        },
        # a read-only clone token, asked of Repo Token: not the GitHub credentials themselves
        json.dumps({"Fn::GetAtt": [repo_token, "Arn"]}): {"lambda:InvokeFunction"},
        # (the data key: decrypt what it reads, data keys for what it writes)
        data_key_json(template_json): {
            "kms:Decrypt",
            "kms:DescribeKey",
            "kms:Encrypt",
            "kms:GenerateDataKey",
        },
    }

    # When the allowed actions are grouped by resource
    granted: dict[str, set[str]] = {}
    for statement in statements:
        assert statement["Effect"] == "Allow"
        assert "Condition" not in statement and "NotAction" not in statement, statement
        for resource in statement_resources(statement):
            granted.setdefault(json.dumps(resource), set()).update(actions(statement))

    # Then the role reaches exactly those resources with exactly those actions: no other
    # table, no whole bucket, no ECS, no IAM, no wildcard
    assert granted == expected
    assert json.dumps({"Fn::GetAtt": [tables["Fingerprints"], "Arn"]}) not in granted
    # And nothing is attached to it any other way
    assert "ManagedPolicyArns" not in role and "Policies" not in role
    assert not [
        p
        for p in resources(template_json, "AWS::IAM::ManagedPolicy").values()
        if {"Ref": role_id} in p["Properties"].get("Roles", [])
    ]
    # And only ECS tasks can assume it
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}


def test_sandbox_execution_role_pulls_the_image_and_writes_logs_only(
    template_json: dict[str, Any],
) -> None:
    # Given the sandbox task definition's execution role
    _, task_definition = only(template_json, "AWS::ECS::TaskDefinition")
    role_id = task_definition["Properties"]["ExecutionRoleArn"]["Fn::GetAtt"][0]

    # When its actions are collected
    granted = {a for s in policy_of_role(template_json, role_id) for a in actions(s)}

    # Then they are ECR pulls and log writes
    assert granted == {
        "ecr:BatchCheckLayerAvailability",
        "ecr:GetDownloadUrlForLayer",
        "ecr:BatchGetImage",
        "ecr:GetAuthorizationToken",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    }


def test_cdk_nag_aws_solutions_has_no_unacknowledged_finding(stack: FixloopStack) -> None:
    # Given the AwsSolutions pack
    pack = AwsSolutionsChecks()

    # When it validates the stack (acknowledgments are read from construct metadata)
    report = pack.validate_scope(stack)

    # Then nothing is left
    findings = [
        (v.rule_name, [r.construct_path for r in v.violating_resources]) for v in report.violations
    ]
    assert report.success, findings


def test_cfn_lint_passes(template_json: dict[str, Any]) -> None:
    # Given cfn-lint, ignoring only what CDK always emits:
    #   W3005 (DependsOn already implied by a GetAtt/Ref: CDK adds explicit DependsOn on
    #   roles and policies), W3010 (hard-coded availability zones, from CDK's AZ lookups)
    from cfnlint.api import ManualArgs, lint

    config = ManualArgs(ignore_checks=["W3005", "W3010"], regions=["us-east-1"])

    # When the synthesized template is linted
    matches = lint(json.dumps(template_json), config=config)

    # Then there is nothing to report
    assert not matches, "\n".join(str(m) for m in matches)


def test_outputs(template: Template) -> None:
    # Given / When the app is synthesized
    # Then it exports the state machine ARN, the table and bucket names, the sandbox's
    # cluster and task definition, and what GitHub's webhook settings need
    outputs = template.to_json()["Outputs"]
    assert {
        "StateMachineArn",
        "EventsTableName",
        "InvestigationsTableName",
        "SandboxesTableName",
        "BlobsBucketName",
        "SandboxClusterName",
        "SandboxTaskDefinitionArn",
        "GitHubWebhookUrl",
        "GitHubWebhookSecretArn",
        "SignalsUrl",
        "LogsTriggerArn",
        "AlarmDeadLetterQueueUrl",
        "StateMachineAliasArn",
        "UserPoolId",
        "UserPoolClientId",
        "DataKeyArn",
    } <= set(outputs)


# ---------------------------------------------------------------------------------------------
# Configuration and synth-time checks
# ---------------------------------------------------------------------------------------------


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


def test_config_defaults_and_context() -> None:
    # Given apps with and without fixloop context
    bare = cdk.App()
    configured = cdk.App(
        context={CONTEXT_MODEL: "anthropic:claude-x", CONTEXT_ANTHROPIC_SECRET_NAME: ""}
    )

    # When the configuration is read
    # Then defaults apply, and empty strings mean "not set"
    assert FixloopConfig.from_context(bare.node) == FixloopConfig()
    assert FixloopConfig.from_context(bare.node).model == "bedrock"
    assert FixloopConfig.from_context(configured.node) == FixloopConfig(model="anthropic:claude-x")
    people = cdk.App(
        context={
            "fixloop:slack_channel": "C1",
            "fixloop:linear_team_id": "team",
            "fixloop:human_timeout_seconds": "3600",
            "fixloop:require_approval": "true",
        }
    )
    assert FixloopConfig.from_context(people.node) == FixloopConfig(
        slack_channel="C1", linear_team_id="team", human_timeout_seconds=3600, require_approval=True
    )


def test_trigger_context_from_cdk_json_or_the_command_line() -> None:
    # Given the same trigger settings as JSON values (cdk.json, App(context=...)) and as the
    # strings `cdk synth -c key=value` passes
    targets = {"orders-*": {"github_repo": "acme/orders", "branch": "main"}}
    as_json = cdk.App(
        context={
            CONTEXT_WATCHED_LOG_GROUPS: ["/aws/lambda/orders", "/ecs/api"],
            CONTEXT_ALARM_PREFIXES: ["orders-"],
            CONTEXT_TARGETS: targets,
            CONTEXT_DEFAULT_GITHUB_REPO: "acme/app",
        }
    )
    as_strings = cdk.App(
        context={
            CONTEXT_WATCHED_LOG_GROUPS: '["/aws/lambda/orders", "/ecs/api"]',
            CONTEXT_ALARM_PREFIXES: "orders-",
            CONTEXT_TARGETS: json.dumps(targets),
            CONTEXT_DEFAULT_GITHUB_REPO: "acme/app",
        }
    )

    # When the configuration is read / Then both give the same settings
    config = FixloopConfig.from_context(as_json.node)
    assert FixloopConfig.from_context(as_strings.node) == config
    assert config.watched_log_groups == ("/aws/lambda/orders", "/ecs/api")
    assert config.alarm_prefixes == ("orders-",)
    assert json.loads(config.targets_json) == targets
    assert config.default_github_repo == "acme/app"
    # And the empty values of cdk.json are the defaults
    cdk_json = json.loads((Path(__file__).parents[2] / "cdk.json").read_text())["context"]
    assert FixloopConfig.from_context(cdk.App(context=cdk_json).node) == FixloopConfig()
    # And targets the triggers would refuse fail synth, naming the entry
    for bad, error in (
        ({"x": {"branch": "main"}}, ValueError),
        ({"x": {"github_repo": "not-a-repo"}}, ValueError),
        ({"x": "acme/orders"}, TypeError),
        (["acme/orders"], TypeError),
    ):
        app = cdk.App(context={CONTEXT_TARGETS: json.dumps(bad)})
        with pytest.raises(error, match="fixloop:targets"):
            FixloopConfig.from_context(app.node)
    with pytest.raises(TypeError, match="fixloop:watched_log_groups"):
        FixloopConfig.from_context(cdk.App(context={CONTEXT_WATCHED_LOG_GROUPS: [1]}).node)


def test_environment_is_agnostic_unless_both_defaults_are_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given no CDK defaults / When the env is computed / Then the stack is env-agnostic
    monkeypatch.delenv("CDK_DEFAULT_ACCOUNT", raising=False)
    monkeypatch.delenv("CDK_DEFAULT_REGION", raising=False)
    assert environment() is None
    # Given both / When / Then the stack is bound to them
    monkeypatch.setenv("CDK_DEFAULT_ACCOUNT", "123456789012")
    monkeypatch.setenv("CDK_DEFAULT_REGION", "eu-west-1")
    env = environment()
    assert env is not None and (env.account, env.region) == ("123456789012", "eu-west-1")


def test_an_environment_bound_stack_synthesizes_without_lookups(
    tmp_path: Path, prebuilt_layer: Path
) -> None:
    # Given the stack bound to an explicit account and region
    app = cdk.App(
        outdir=str(tmp_path / "cdk.out"),
        context={CONTEXT_LAYER_ASSET_DIR: str(prebuilt_layer)},
    )
    stack = FixloopStack(
        app, "Bound", env=cdk.Environment(account="123456789012", region="eu-west-1")
    )

    # When it is synthesized
    app.synth()
    manifest = json.loads((tmp_path / "cdk.out" / "manifest.json").read_text())

    # Then no context lookup is pending (no AZ lookup) and the AZs resolve at deploy time
    assert not manifest.get("missing"), manifest.get("missing")
    subnets = Template.from_stack(stack).find_resources("AWS::EC2::Subnet")
    assert {json.dumps(s["Properties"]["AvailabilityZone"]) for s in subnets.values()} == {
        json.dumps({"Fn::Select": [i, {"Fn::GetAZs": ""}]}) for i in (0, 1)
    }


# ---------------------------------------------------------------------------------------------
# The layer
# ---------------------------------------------------------------------------------------------


def test_layer_requirements_are_the_runtime_dependencies_only() -> None:
    # Given pyproject.toml
    # When the layer's requirement list is computed
    names = {re.split(r"[\[=<>!~ ;]", r, maxsplit=1)[0].lower() for r in runtime_requirements()}

    # Then it holds the runtime dependencies and none of the optional extras
    assert {"anthropic", "aws-lambda-powertools", "pydantic"} <= names
    assert not names & {"moto", "aws-cdk-lib", "cdk-nag", "pytest", "cfn-lint", "ruff"}


def test_layer_fingerprint_follows_the_target() -> None:
    # Given bundlers for two architectures / When fingerprinted / Then they differ
    arm = LayerBundler(target=LayerTarget(architecture="arm64"))
    x86 = LayerBundler(target=LayerTarget(architecture="x86_64"))
    assert arm.fingerprint() == arm.fingerprint()
    assert arm.fingerprint() != x86.fingerprint()


@pytest.mark.slow
def test_real_layer_bundler(tmp_path: Path) -> None:
    # Given a stack for the shared layer alone
    app = cdk.App(outdir=str(tmp_path / "cdk.out"))
    stack = cdk.Stack(app, "LayerOnly")

    # When the layer is defined with the real local bundler (pip, no Docker; CDK stages,
    # and so bundles, assets as they are defined) and the app is synthesized
    started = time.perf_counter()
    SharedLayer(stack, "SharedLayer")
    app.synth()
    print(f"\nreal layer bundling + synth: {time.perf_counter() - started:.1f} s")

    # Then the staged layer holds fixloop and its runtime deps for cp313/arm64, not moto
    (layer,) = Template.from_stack(stack).find_resources("AWS::Lambda::LayerVersion").values()
    asset_hash = layer["Properties"]["Content"]["S3Key"].removesuffix(".zip")
    site = tmp_path / "cdk.out" / f"asset.{asset_hash}" / "python"
    assert (site / "fixloop" / "__init__.py").is_file()
    assert (site / "anthropic").is_dir()
    assert (site / "aws_lambda_powertools").is_dir()
    assert not (site / "moto").exists()
    assert not (site / "fixloop" / "local").exists()
    assert not (site / "fixloop" / "testing").exists()
    assert (site / "fixloop" / "agent" / "loop.py").is_file()
    assert not (site / "bin").exists()
    assert not list(site.rglob("__pycache__"))
    assert list(site.glob("pydantic_core/_pydantic_core.cpython-313-aarch64-linux-gnu.so"))


# ---------------------------------------------------------------------------------------------
# People in the loop: inbox, waits, Slack / Linear / REST
# ---------------------------------------------------------------------------------------------

CHANNEL_FUNCTIONS = ("slack_events", "linear_webhook", "investigations_api")


def test_inbox_is_ordered_per_investigation_and_waits_expire(template: Template) -> None:
    # Given / When the app is synthesized
    # Then Inbox is keyed by investigation and sequence, durable like the log; Waits by
    # investigation with a TTL, deleted with the stack (a token outlives no execution)
    template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "Properties": {
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                "BillingMode": "PAY_PER_REQUEST",
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                "SSESpecification": Match.object_like({"SSEEnabled": True, "SSEType": "KMS"}),
            },
            "DeletionPolicy": "Retain",
        },
    )
    waits = [
        r
        for k, r in resources(dict(template.to_json()), "AWS::DynamoDB::Table").items()
        if k.startswith("StorageWaits")
    ]
    assert len(waits) == 1
    assert waits[0]["Properties"]["TimeToLiveSpecification"] == {
        "AttributeName": "expires_at",
        "Enabled": True,
    }
    assert waits[0]["DeletionPolicy"] == "Delete"
    # (both encrypted with the data key: test_data_is_encrypted_with_one_...)
    assert waits[0]["Properties"]["SSESpecification"]["SSEType"] == "KMS"


def _methods(template_json: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """'METHOD /path' -> method properties."""
    res = resources(template_json, "AWS::ApiGateway::Resource")

    def path(ref: Any) -> str:
        if not isinstance(ref, dict) or "Ref" not in ref:
            return ""
        r = res[ref["Ref"]]["Properties"]
        return path(r["ParentId"]) + "/" + str(r["PathPart"])

    return {
        f"{m['Properties']['HttpMethod']} {path(m['Properties']['ResourceId'])}": m["Properties"]
        for m in resources(template_json, "AWS::ApiGateway::Method").values()
    }


def test_channel_routes_signed_or_iam_authorized(template_json: dict[str, Any]) -> None:
    # Given the REST API's methods
    methods = _methods(template_json)
    ids = all_function_ids(template_json)
    # Then Slack and Linear POST without an authorizer (they sign), to their functions
    for route, fn in (
        ("POST /webhooks/slack", "slack_events"),
        ("POST /webhooks/linear", "linear_webhook"),
    ):
        assert methods[route]["AuthorizationType"] == "NONE", route
        assert {"Fn::GetAtt": [ids[fn], "Arn"]} in methods[route]["Integration"]["Uri"]["Fn::Join"][
            1
        ]
    # And reading an investigation and posting to it need IAM (SigV4)
    for route in (
        "GET /investigations/{investigation_id}",
        "POST /investigations/{investigation_id}/messages",
    ):
        assert methods[route]["AuthorizationType"] == "AWS_IAM", route
        uri = methods[route]["Integration"]["Uri"]["Fn::Join"][1]
        assert {"Fn::GetAtt": [ids["investigations_api"], "Arn"]} in uri
    assert {"SlackEventsUrl", "LinearWebhookUrl", "InvestigationsUrl"} <= set(
        template_json["Outputs"]
    )


def test_channel_functions_reach_inbox_waits_their_secret_and_task_tokens(
    template_json: dict[str, Any],
) -> None:
    tables = table_ids(template_json)
    signing = dict(
        zip(
            ("slack_events", "linear_webhook"),
            secret_ids(template_json, "SlackSigningSecret", "LinearWebhookSecret"),
            strict=True,
        )
    )
    for name in CHANNEL_FUNCTIONS:
        # Given the function's role
        statements = policy_of_role(template_json, role_of_function(template_json, name))

        def granted(prefix: str, statements: list[dict[str, Any]] = statements) -> list[Any]:
            return [s for s in statements if any(a.startswith(prefix) for a in actions(s))]

        # Then it writes the inbox and the waits, answers task tokens and starts executions
        touched = {r["Fn::GetAtt"][0] for s in granted("dynamodb:") for r in statement_resources(s)}
        assert {tables["Inbox"], tables["Waits"]} <= touched, name
        assert tables["Sandboxes"] not in touched and tables["Fingerprints"] not in touched
        assert sorted(a for s in granted("states:") for a in actions(s)) == [
            "states:SendTaskSuccess",
            "states:StartExecution",
        ], name
        assert all(statement_resources(s) == [state_machine_arn_json()] for s in granted("states:"))
        # And it reads its own signing secret only (the REST API none: IAM authorizes it)
        reads = [r for s in granted("secretsmanager:") for r in statement_resources(s)]
        assert reads == ([{"Ref": signing[name]}] if name in signing else []), name
        assert all(actions(s) == ["secretsmanager:GetSecretValue"] for s in granted("secrets"))


def test_slack_function_invokes_only_itself(template_json: dict[str, Any]) -> None:
    fn_id = all_function_ids(template_json)["slack_events"]
    role_id = role_of_function(template_json, "slack_events")
    invokers = [
        (p["Properties"]["Roles"], s)
        for p in resources(template_json, "AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if "lambda:InvokeFunction" in actions(s)
        and any(
            isinstance(r, dict) and r.get("Fn::GetAtt", [None])[0] == fn_id
            for r in statement_resources(s)
        )
    ]
    assert len(invokers) == 1
    roles, statement = invokers[0]
    assert roles == [{"Ref": role_id}]
    assert statement_resources(statement) == [{"Fn::GetAtt": [fn_id, "Arn"]}]


def test_channel_secrets_hold_placeholders_to_be_replaced(template_json: dict[str, Any]) -> None:
    secrets = resources(template_json, "AWS::SecretsManager::Secret")
    names = sorted(s["Properties"]["Name"] for s in secrets.values())
    assert names == [
        "fixloop/github-webhook",
        "fixloop/linear-api-key",
        "fixloop/linear-webhook-secret",
        "fixloop/slack-bot-token",
        "fixloop/slack-signing-secret",
    ]
    for secret in secrets.values():
        assert "SecretString" not in secret["Properties"]  # generated, never in the template
        assert "GenerateSecretString" in secret["Properties"]
    assert json.dumps(template_json).count("FIXLOOP_SLACK_SIGNING_SECRET_ARN") == 1
