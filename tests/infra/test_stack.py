"""Infrastructure tests: synthesize the CDK app and assert on the CloudFormation template.

One module-scoped synth of the whole app (with a prebuilt stand-in layer, so pip does not run
for every test) backs most tests; ``test_real_layer_bundler`` runs the real local bundler once.
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
from aws_cdk.assertions import Match, Template
from cdk_nag import AwsSolutionsChecks

from app import build_app, environment
from layers.bundler import LayerBundler, LayerTarget, runtime_requirements
from stacks import FixloopConfig, FixloopStack
from stacks.config import (
    CONTEXT_ANTHROPIC_SECRET_NAME,
    CONTEXT_LAYER_ASSET_DIR,
    CONTEXT_MODEL,
)
from stacks.constructs.layer import SharedLayer
from stacks.constructs.loop import (
    INVESTIGATION_ASL,
    InvestigationLoop,
    MissingSubstitutionError,
    placeholders,
)

STATE_MACHINE_NAME = "fixloop-investigation"
SECRET_NAME = "fixloop/anthropic"
LOOP_FUNCTIONS = {
    # folder: (timeout seconds, memory MB)
    "prepare": (60, 512),
    "model_turn": (900, 1024),
    "run_tool": (300, 512),
    "deliver": (120, 512),
    "mark_failed": (60, 512),
}
PLACEHOLDERS = {
    "PrepareFunctionArn": "prepare",
    "ModelTurnFunctionArn": "model_turn",
    "RunToolFunctionArn": "run_tool",
    "DeliverFunctionArn": "deliver",
    "MarkFailedFunctionArn": "mark_failed",
}


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


def function_ids(template_json: dict[str, Any]) -> dict[str, str]:
    """Loop function folder name -> logical id, from each function's description."""
    ids = {}
    for logical_id, fn in resources(template_json, "AWS::Lambda::Function").items():
        description = fn["Properties"].get("Description", "")
        if description.startswith("fixloop loop step: "):
            ids[description.removeprefix("fixloop loop step: ")] = logical_id
    return ids


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
    fn = template_json["Resources"][function_ids(template_json)[name]]
    role_id: str = fn["Properties"]["Role"]["Fn::GetAtt"][0]
    return role_id


def state_machine(template_json: dict[str, Any]) -> dict[str, Any]:
    (machine,) = resources(template_json, "AWS::StepFunctions::StateMachine").values()
    return machine


def walk_states(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every state, including those inside Map item processors and Parallel branches."""
    for name, state in states.items():
        yield name, state
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            yield from walk_states(processor["States"])
        for branch in state.get("Branches", []):
            yield from walk_states(branch["States"])


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

    # When CloudFormation's substitution is applied (each value is a function's Arn)
    for name, value in substitutions.items():
        (logical_id, attribute) = value["Fn::GetAtt"]
        assert attribute == "Arn"
        definition = definition.replace(
            "${" + name + "}", f"arn:aws:lambda:us-east-1:123456789012:function:{logical_id}"
        )

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
    assert {name: value["Fn::GetAtt"][0] for name, value in substitutions.items()} == {
        placeholder: ids[fn] for placeholder, fn in PLACEHOLDERS.items()
    }
    assert states["Model Turn"]["Parameters"]["FunctionName"].endswith(ids["model_turn"])


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
    own_arn = {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":states:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                f":stateMachine:{STATE_MACHINE_NAME}",
            ],
        ]
    }

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
    # And it invokes exactly the five loop functions (and their qualified ARNs)
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
    template.resource_count_is("AWS::DynamoDB::Table", 2)


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
                        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
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


def test_five_loop_functions_on_python313_arm64_with_the_layer(
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
    (events_id,) = (
        k
        for k, t in resources(template_json, "AWS::DynamoDB::Table").items()
        if "StreamSpecification" in t["Properties"]
    )

    # When / Then every function gets the tables, bucket, model and Powertools settings
    for name, env in envs.items():
        assert env["FIXLOOP_EVENTS_TABLE"] == {"Ref": events_id}, name
        assert {"FIXLOOP_INVESTIGATIONS_TABLE", "FIXLOOP_BLOBS_BUCKET"} <= set(env), name
        assert env["FIXLOOP_MODEL"] == "bedrock", name
        assert env["POWERTOOLS_SERVICE_NAME"] == "fixloop", name
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "fixloop", name
        assert env["LOG_LEVEL"] == "INFO", name
    # And only prepare knows the state machine ARN, only model_turn the Anthropic secret
    assert [n for n, e in envs.items() if "FIXLOOP_STATE_MACHINE_ARN" in e] == ["prepare"]
    assert [n for n, e in envs.items() if "FIXLOOP_ANTHROPIC_SECRET_ARN" in e] == ["model_turn"]
    assert f":stateMachine:{STATE_MACHINE_NAME}" in json.dumps(
        envs["prepare"]["FIXLOOP_STATE_MACHINE_ARN"]
    )


def test_log_groups_keep_one_month(template: Template, template_json: dict[str, Any]) -> None:
    # Given / When the app is synthesized
    # Then one log group per function plus the state machine's, each kept 30 days
    log_groups = resources(template_json, "AWS::Logs::LogGroup")
    assert len(log_groups) == len(LOOP_FUNCTIONS) + 1
    for group in log_groups.values():
        assert group["Properties"]["RetentionInDays"] == 30
    for fn_id in function_ids(template_json).values():
        logging = template_json["Resources"][fn_id]["Properties"]["LoggingConfig"]
        assert logging["LogGroup"]["Ref"] in log_groups


# ---------------------------------------------------------------------------------------------
# Least privilege
# ---------------------------------------------------------------------------------------------


def test_no_statement_grants_every_action_or_dynamodb_on_every_resource(
    template_json: dict[str, Any],
) -> None:
    # Given every IAM statement in the template
    statements = [
        s
        for policy in resources(template_json, "AWS::IAM::Policy").values()
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert statements

    # When / Then none allows Action "*", and no DynamoDB statement has a wildcard
    for statement in statements:
        assert "*" not in actions(statement), statement
        if any(a.startswith("dynamodb:") for a in actions(statement)):
            assert "dynamodb:*" not in actions(statement), statement
            assert "*" not in statement_resources(statement), statement


def test_only_model_turn_invokes_bedrock_and_reads_the_secret(
    template_json: dict[str, Any],
) -> None:
    # Given each loop function's policy statements
    by_function = {
        name: policy_of_role(template_json, role_of_function(template_json, name))
        for name in LOOP_FUNCTIONS
    }

    # When the Bedrock and Secrets Manager statements are picked out
    def granted(name: str, prefix: str) -> list[dict[str, Any]]:
        return [s for s in by_function[name] if any(a.startswith(prefix) for a in actions(s))]

    # Then only model_turn has them, on scoped (not "*") resources
    for name in LOOP_FUNCTIONS:
        if name != "model_turn":
            assert not granted(name, "bedrock:"), name
            assert not granted(name, "secretsmanager:"), name
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

    # Then prepare, model_turn and run_tool read and write objects; the others have none
    rw = ["s3:GetObject", "s3:ListBucket", "s3:PutObject"]
    assert s3_actions == {
        "prepare": rw,
        "model_turn": rw,
        "run_tool": rw,
        "deliver": [],
        "mark_failed": [],
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
    # Then it exports the state machine ARN, the table names and the bucket name
    outputs = template.to_json()["Outputs"]
    assert {
        "StateMachineArn",
        "EventsTableName",
        "InvestigationsTableName",
        "BlobsBucketName",
    } <= set(outputs)


# ---------------------------------------------------------------------------------------------
# Configuration and synth-time checks
# ---------------------------------------------------------------------------------------------


def test_the_real_asl_uses_exactly_the_five_function_placeholders() -> None:
    # Given the state machine file
    # When its placeholders are found
    # Then they are the five the stack provides
    assert placeholders(INVESTIGATION_ASL.read_text()) == set(PLACEHOLDERS)


def test_a_placeholder_without_substitution_fails_synth(tmp_path: Path) -> None:
    # Given an ASL file using a placeholder the stack does not provide
    asl = tmp_path / "bad.asl.json"
    asl.write_text(
        json.dumps(
            {
                "StartAt": "A",
                "States": {"A": {"Type": "Task", "Resource": "${SandboxFunctionArn}", "End": True}},
            }
        )
    )
    stack = cdk.Stack(cdk.App(), "Bad")
    fn = lambda_.Function.from_function_arn(
        stack, "Fn", "arn:aws:lambda:us-east-1:123456789012:function:f"
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
