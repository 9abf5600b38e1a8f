"""The whole stack (stacks/fixloop_stack.py, app.py): least privilege across every policy,
cdk-nag, cfn-lint, outputs, and the environment it is bound to."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks

from app import DEFAULT_OUTDIR, environment, outdir
from layers.bundler import PROJECT_ROOT
from stacks import FixloopStack
from stacks.config import CONTEXT_LAYER_ASSET_DIR
from tests.infra.support import actions, data_key_json, resources, statement_resources


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


def test_make_synth_writes_cdk_out_unless_the_cli_says_where(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given app.py run by make synth (no CDK_OUTDIR) / When the output directory is chosen /
    # Then it is cdk.out/ of the project, as the README says (an App without one writes to a
    # temporary directory)
    monkeypatch.delenv("CDK_OUTDIR", raising=False)
    assert outdir() == str(PROJECT_ROOT / "cdk.out") == str(DEFAULT_OUTDIR)
    # Given the CDK CLI running it (cdk synth -o elsewhere sets CDK_OUTDIR) / Then its choice
    monkeypatch.setenv("CDK_OUTDIR", "elsewhere.out")
    assert outdir() == "elsewhere.out"
