"""What a Lambda function may touch, from its catalogue entry (fixloop/functions.py).

:func:`grant` gives a function's role exactly what its capabilities say, on the stack's own
resources (:class:`Reach`), and :func:`secret_environment` tells it where the secrets it may
read are. The Live API's own resources (its Connections table and Management API) are granted
by stacks/constructs/live.py, from the same entries.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from fixloop.functions import FunctionSpec, Records
from stacks.constructs.sandbox import SandboxCluster
from stacks.constructs.storage import Storage
from stacks.nag import acknowledge, flatten, iam5_resource

__all__ = ["ChannelSecrets", "Reach", "Secrets", "grant", "secret_environment"]

SIGNING_SECRET_VARIABLES = {
    "github": "FIXLOOP_GITHUB_WEBHOOK_SECRET_ARN",
    "slack": "FIXLOOP_SLACK_SIGNING_SECRET_ARN",
    "linear": "FIXLOOP_LINEAR_WEBHOOK_SECRET_ARN",
}
"""The variable naming the signing secret of each inbound channel."""


@dataclass(frozen=True)
class ChannelSecrets:
    """The Slack and Linear credentials (stacks/constructs/webhooks.py makes them)."""

    slack_signing_secret: secretsmanager.ISecret
    slack_bot_token: secretsmanager.ISecret
    linear_webhook_secret: secretsmanager.ISecret
    linear_api_key: secretsmanager.ISecret

    def signing_secret(self, channel: str) -> secretsmanager.ISecret:
        return {"slack": self.slack_signing_secret, "linear": self.linear_webhook_secret}[channel]


@dataclass(frozen=True)
class Secrets:
    """The secrets functions may read; None where the deployment has none."""

    anthropic: secretsmanager.ISecret | None = None
    github: secretsmanager.ISecret | None = None
    github_webhook: secretsmanager.ISecret | None = None
    channels: ChannelSecrets | None = None

    def signing(self, channel: str) -> secretsmanager.ISecret | None:
        """The secret ``channel`` (github, slack, linear) signs its requests with."""
        if channel == "github":
            return self.github_webhook
        if channel and self.channels is not None:
            return self.channels.signing_secret(channel)
        return None


@dataclass(frozen=True)
class Reach:
    """The stack's resources that functions are granted access to."""

    storage: Storage
    state_machine_arn: str
    """The unqualified ARN: IAM authorizes executions and task tokens of its versions and
    aliases against it."""
    sandbox: SandboxCluster | None = None
    secrets: Secrets = field(default_factory=Secrets)


def secret_environment(spec: FunctionSpec, secrets: Secrets) -> dict[str, str]:
    """The variables naming the secrets ``spec`` may read."""
    env: dict[str, str] = {}
    if spec.calls_models and secrets.anthropic is not None:
        env["FIXLOOP_ANTHROPIC_SECRET_ARN"] = secrets.anthropic.secret_arn
    if spec.github_credentials and secrets.github is not None:
        env["FIXLOOP_GITHUB_SECRET_ARN"] = secrets.github.secret_arn
    signing = secrets.signing(spec.signing_secret)
    if signing is not None:
        env[SIGNING_SECRET_VARIABLES[spec.signing_secret]] = signing.secret_arn
    if spec.posts and secrets.channels is not None:
        env["FIXLOOP_SLACK_BOT_TOKEN_ARN"] = secrets.channels.slack_bot_token.secret_arn
        env["FIXLOOP_LINEAR_API_KEY_ARN"] = secrets.channels.linear_api_key.secret_arn
    return env


def grant(
    scope: Construct, spec: FunctionSpec, role: iam.Role, fn: lambda_.IFunction, reach: Reach
) -> None:
    """Give ``role`` (``fn``'s) what ``spec`` may touch; ``scope`` holds any policy of its own."""
    storage = reach.storage
    _grant_records(spec.records, role, storage)
    if spec.blobs:
        _grant_blobs(role, storage, list_bucket=spec.lists_blobs)
    if spec.reads_event_bodies:
        _grant_event_bodies(role, storage)
    if spec.triages:
        storage.fingerprints.grant_read_write_data(role)
    if spec.inbox or spec.posts or spec.notes:
        storage.inbox.grant_read_write_data(role)
    elif spec.reads_inbox:
        storage.inbox.grant_read_data(role)
    if spec.inbox:
        storage.waits.grant_read_write_data(role)
        # Answering a question's task token (the state machine is the resource).
        _allow(role, ["states:SendTaskSuccess"], [reach.state_machine_arn])
    if spec.starts_executions:
        # The ARN built from the machine's name (as for the machine's own continue-as-new):
        # no reference to the state machine, so no dependency cycle.
        _allow(role, ["states:StartExecution"], [reach.state_machine_arn])
    if spec.dispatches_sandboxes:
        if reach.sandbox is None:
            raise ValueError(f"{spec.folder} dispatches sandboxes: the stack has no sandbox")
        _grant_dispatch(role, storage=storage, sandbox=reach.sandbox, reach=reach)
    if spec.reads_sandboxes:
        # The workspace snapshot (the change) the sandbox left.
        storage.sandboxes.grant_read_data(role)
    _grant_secrets(spec, role, reach.secrets)
    if spec.calls_models:
        _grant_bedrock(role)
    if spec.reads_telemetry:
        _grant_telemetry(role)
    if spec.invokes_itself:
        # A policy of its own: the role's default policy naming the function would be a
        # dependency cycle (the function waits for its role's default policy).
        iam.Policy(
            scope,
            f"{spec.construct_id}InvokesItself",
            roles=[role],
            statements=[
                iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[fn.function_arn])
            ],
        )


def _allow(role: iam.Role, actions: list[str], resources: list[str]) -> None:
    role.add_to_principal_policy(iam.PolicyStatement(actions=actions, resources=resources))


def _grant_records(records: Records, role: iam.Role, storage: Storage) -> None:
    """The log and the investigation record."""
    if records is Records.WRITE:
        storage.events.grant_read_write_data(role)
        storage.investigations.grant_read_write_data(role)
    elif records is Records.READ:
        storage.events.grant_read_data(role)
        storage.investigations.grant_read_data(role)
    elif records is Records.COUNT:
        storage.events.grant_read_data(role)
        storage.investigations.grant_write_data(role)


def _grant_blobs(role: iam.Role, storage: Storage, *, list_bucket: bool) -> None:
    """Read and write objects (and, with ``list_bucket``, list them); no delete, no bucket
    configuration."""
    bucket = storage.blobs
    _allow(role, ["s3:GetObject", "s3:PutObject"], [bucket.arn_for_objects("*")])
    if list_bucket:
        # ListBucket turns a read of a missing key into 404 (not 403).
        _allow(role, ["s3:ListBucket"], [bucket.bucket_arn])
    storage.grant_key(role, write=True)
    acknowledge(
        role,
        iam5_resource(flatten(bucket.arn_for_objects("*"), cdk.Stack.of(bucket))),
        "Blob keys are derived from investigation ids at run time; the functions need "
        "every object of this one bucket.",
    )


def _grant_event_bodies(role: iam.Role, storage: Storage) -> None:
    """Read the bodies of events too large for DynamoDB, stored under ``events/``."""
    event_bodies = storage.blobs.arn_for_objects("events/*")
    _allow(role, ["s3:GetObject"], [event_bodies])
    storage.grant_key(role, write=False)
    acknowledge(
        role,
        iam5_resource(flatten(event_bodies, cdk.Stack.of(storage.blobs))),
        "Event bodies too large for DynamoDB are stored under events/<investigation>/; "
        "reading an event of any investigation may need its body. Read only.",
    )


def _grant_dispatch(
    role: iam.Role, *, storage: Storage, sandbox: SandboxCluster, reach: Reach
) -> None:
    """Start, find and replace sandboxes; answer the task token itself when the result is
    already in the log (a retried dispatch)."""
    storage.sandboxes.grant_read_write_data(role)
    sandbox.grant_dispatch(role)
    # The state machine ARN is the resource: see TASK_RESPONSE_ACTIONS in sandbox.py.
    _allow(role, ["states:SendTaskSuccess", "states:SendTaskFailure"], [reach.state_machine_arn])


def _grant_secrets(spec: FunctionSpec, role: iam.Role, secrets: Secrets) -> None:
    """The secrets the operator names (read, and described) and the ones the stack makes
    (values only)."""
    for wanted, secret in (
        (spec.calls_models, secrets.anthropic),
        (spec.github_credentials, secrets.github),
    ):
        if wanted and secret is not None:
            secret.grant_read(role)
    readable: list[secretsmanager.ISecret] = []
    if spec.posts and secrets.channels is not None:
        readable += [secrets.channels.slack_bot_token, secrets.channels.linear_api_key]
    signing = secrets.signing(spec.signing_secret)
    if signing is not None:
        readable.append(signing)
    if readable:
        _grant_secret_values(role, readable)


def _grant_secret_values(role: iam.Role, secrets: list[secretsmanager.ISecret]) -> None:
    """Read the values of ``secrets`` (grant_read would add DescribeSecret too), decrypting
    them with their keys through Secrets Manager only."""
    _allow(role, ["secretsmanager:GetSecretValue"], [secret.secret_arn for secret in secrets])
    keys = {s.encryption_key.key_arn: s.encryption_key for s in secrets if s.encryption_key}
    if keys:
        stack = cdk.Stack.of(role)
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt"],
                resources=list(keys),
                conditions={
                    "StringEquals": {
                        "kms:ViaService": f"secretsmanager.{stack.region}.{stack.url_suffix}"
                    }
                },
            )
        )


def _grant_telemetry(role: iam.Role) -> None:
    """Read-only telemetry for the model's tools (fixloop.tools.telemetry): Logs Insights,
    metrics, X-Ray traces and Lambda versions of the watched services."""
    stack = cdk.Stack.of(role)
    log_groups = stack.format_arn(
        service="logs",
        resource="log-group",
        resource_name="*",
        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
    )
    functions = stack.format_arn(
        service="lambda",
        resource="function",
        resource_name="*",
        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
    )
    _allow(role, ["logs:StartQuery"], [log_groups])
    _allow(
        role,
        ["lambda:GetFunction", "lambda:ListVersionsByFunction", "lambda:ListTags"],
        [functions],
    )
    # These actions have no resource types: the Service Authorization Reference lists them
    # for "*" only.
    _allow(
        role,
        [
            "logs:GetQueryResults",
            "logs:StopQuery",
            "cloudwatch:GetMetricData",
            "xray:GetTraceSummaries",
            "xray:BatchGetTraces",
        ],
        ["*"],
    )
    reason = (
        "Read-only telemetry of the services fixloop watches: any log group or function of "
        "the account may be the one an alarm names; the query, metric and trace reads have "
        "no resource-level permissions."
    )
    for arn in (log_groups, functions):
        acknowledge(role, iam5_resource(flatten(arn, stack)), reason)


def _grant_bedrock(role: iam.Role) -> None:
    """Invoke Anthropic models on Bedrock, directly or through inference profiles."""
    stack = cdk.Stack.of(role)
    # Cross-region inference profiles route to the model in other regions (and global ones
    # to a region-less ARN), hence the region wildcard on foundation models.
    foundation_models = f"arn:{stack.partition}:bedrock:*::foundation-model/anthropic.*"
    inference_profiles = stack.format_arn(
        service="bedrock",
        resource="inference-profile",
        resource_name="*anthropic.*",
        arn_format=cdk.ArnFormat.SLASH_RESOURCE_NAME,
    )
    _allow(
        role,
        ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
        [foundation_models, inference_profiles],
    )
    reason = (
        "fixloop speaks the Anthropic Messages API; the model id is chosen per investigation "
        "at run time, so access is scoped to Anthropic models, not one id."
    )
    for arn in (foundation_models, inference_profiles):
        acknowledge(role, iam5_resource(flatten(arn, stack)), reason)
