"""What a Lambda function may touch, from its catalogue entry (fixloop/functions.py).

:func:`grant` gives a function's role exactly what its capabilities say, on the stack's own
resources (:class:`Reach`), :func:`grant_invokes` the functions it invokes by name, and
:func:`secret_environment` tells it where the secrets it may read are. The Live API's own
resources (its Connections table and Management API) are granted by
stacks/constructs/live.py, from the same entries.

Keys of the Blobs bucket are derived from the runtime's own key functions
(``fixloop.sandbox.protocol``), so a grant names exactly the objects the code reads and writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from fixloop.functions import FunctionSpec, Records
from fixloop.sandbox.protocol import result_key, snapshot_key
from stacks.constructs.sandbox import SandboxCluster
from stacks.constructs.storage import Storage
from stacks.nag import acknowledge, flatten, iam5_resource

__all__ = [
    "EVENT_BODIES",
    "SANDBOX_RESULTS",
    "SNAPSHOTS",
    "ChannelSecrets",
    "Reach",
    "Secrets",
    "function_variable",
    "grant",
    "grant_invokes",
    "secret_environment",
]

EVENT_BODIES = "events/*"
"""Event bodies too large for an item (fixloop.store.events)."""
SNAPSHOTS = snapshot_key("*")
"""Workspace snapshots: a sandbox puts them (pre-signed), the dispatcher signs the URLs that
restore one, Deliver reads the change from them."""
SANDBOX_RESULTS = result_key("*", "*")
"""What a sandbox puts for each call (pre-signed); Run Tool records it."""

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

    def posting(self, channel: str) -> tuple[str, secretsmanager.ISecret]:
        """The variable naming the credential ``channel`` posts with, and its secret."""
        if channel == "slack":
            return "FIXLOOP_SLACK_BOT_TOKEN_ARN", self.slack_bot_token
        return "FIXLOOP_LINEAR_API_KEY_ARN", self.linear_api_key


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
    aftercare_state_machine_arn: str = ""
    """The aftercare state machine's unqualified ARN (functions that start its executions)."""
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
    for variable, secret in _posting_credentials(spec, secrets):
        env[variable] = secret.secret_arn
    return env


def _posting_credentials(
    spec: FunctionSpec, secrets: Secrets
) -> list[tuple[str, secretsmanager.ISecret]]:
    """The Slack and Linear credentials ``spec`` reads: both to post, or the one of its
    inbound channel to learn where it is installed."""
    if secrets.channels is None:
        return []
    if spec.posts:
        return [secrets.channels.posting("slack"), secrets.channels.posting("linear")]
    if spec.learns_installation and spec.signing_secret in ("slack", "linear"):
        return [secrets.channels.posting(spec.signing_secret)]
    return []


def grant(
    scope: Construct, spec: FunctionSpec, role: iam.Role, fn: lambda_.IFunction, reach: Reach
) -> None:
    """Give ``role`` (``fn``'s) what ``spec`` may touch; ``scope`` holds any policy of its own."""
    storage = reach.storage
    _grant_records(spec.records, role, storage)
    if spec.writes_event_bodies or spec.reads_event_bodies:
        _grant_event_bodies(role, storage, write=spec.writes_event_bodies)
    if spec.triages or spec.fingerprints:
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
    if spec.starts_aftercare:
        if not reach.aftercare_state_machine_arn:
            raise ValueError(f"{spec.folder} starts aftercare: the stack has no aftercare")
        _allow(role, ["states:StartExecution"], [reach.aftercare_state_machine_arn])
    if spec.watches_deployments:
        _grant_deployment_reads(role)
    if spec.dispatches_sandboxes:
        _grant_dispatch(role, storage=storage, sandbox=_sandbox(spec, reach), reach=reach)
    if spec.reads_sandbox_results:
        _grant_sandbox_objects(role, storage, read=[SANDBOX_RESULTS])
    if spec.reads_snapshots:
        _grant_sandbox_objects(role, storage, read=[SNAPSHOTS])
    if spec.stops_sandboxes:
        # Its Sandboxes record (marked stopped), and the task.
        _allow(role, ["dynamodb:GetItem", "dynamodb:UpdateItem"], [storage.sandboxes.table_arn])
        storage.grant_key(role, write=True)
        _sandbox(spec, reach).grant_stop(role)
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


def function_variable(folder: str) -> str:
    """The variable naming the function in ``functions/<folder>`` to one that invokes it
    (``repo_token``: ``FIXLOOP_REPO_TOKEN_FUNCTION``, fixloop.config's repo_token_function)."""
    return f"FIXLOOP_{folder.upper()}_FUNCTION"


def grant_invokes(
    spec: FunctionSpec,
    fn: lambda_.Function,
    role: iam.Role,
    functions: dict[str, lambda_.Function],
) -> None:
    """Tell ``fn`` the functions its entry invokes (:func:`function_variable`) and let its role
    invoke each of them: the function itself (its unqualified ARN), not CDK's grant_invoke,
    which adds ``ARN:*`` (every version and alias)."""
    for folder in spec.invokes:
        target = functions.get(folder)
        if target is None:
            raise ValueError(f"{spec.folder} invokes {folder}, which is not built here")
        fn.add_environment(function_variable(folder), target.function_name)
        _allow(role, ["lambda:InvokeFunction"], [target.function_arn])


def _sandbox(spec: FunctionSpec, reach: Reach) -> SandboxCluster:
    if reach.sandbox is None:
        raise ValueError(f"{spec.folder} reaches sandboxes: the stack has no sandbox")
    return reach.sandbox


def _allow(
    role: iam.Role,
    actions: list[str],
    resources: list[str],
    conditions: dict[str, Any] | None = None,
) -> None:
    role.add_to_principal_policy(
        iam.PolicyStatement(actions=actions, resources=resources, conditions=conditions)
    )


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


def _grant_event_bodies(role: iam.Role, storage: Storage, *, write: bool) -> None:
    """Read (and, with ``write``, write) the bodies of events too large for DynamoDB. Never
    probed: an event names its body's key only once the body is stored, so no ListBucket."""
    event_bodies = storage.blobs.arn_for_objects(EVENT_BODIES)
    _allow(role, ["s3:GetObject", "s3:PutObject"] if write else ["s3:GetObject"], [event_bodies])
    storage.grant_key(role, write=write)
    acknowledge(
        role,
        iam5_resource(flatten(event_bodies, cdk.Stack.of(storage.blobs))),
        "Event bodies too large for DynamoDB are stored under events/<investigation>/; "
        "an event of any investigation may have one. Nothing else of the bucket.",
    )


def _grant_sandbox_objects(
    role: iam.Role, storage: Storage, *, read: list[str], write: list[str] | None = None
) -> None:
    """Objects sandboxes put or restore (keys ``read`` and ``write``, patterns under
    ``sandboxes/``), and listing the ones read: a missing object then answers 404 (none)
    instead of 403 (denied). The listing is bounded by the same patterns as ``s3:prefix``:
    for a missing key, S3 checks ListBucket with that key as the prefix (what Ceph RGW
    copied from AWS, ceph/ceph#68577; AWS documents only that ListBucket decides)."""
    bucket = storage.blobs
    stack = cdk.Stack.of(bucket)
    _allow(role, ["s3:GetObject"], [bucket.arn_for_objects(key) for key in read])
    if write:
        _allow(role, ["s3:PutObject"], [bucket.arn_for_objects(key) for key in write])
    _allow(role, ["s3:ListBucket"], [bucket.bucket_arn], {"StringLike": {"s3:prefix": list(read)}})
    # SSE-KMS: a GET decrypts with the bucket's key, a PUT asks it for a data key; a
    # pre-signed URL does either with its signer's permissions.
    _allow(
        role,
        ["kms:Decrypt", "kms:GenerateDataKey"] if write else ["kms:Decrypt"],
        [storage.key.key_arn],
    )
    for key in dict.fromkeys([*read, *(write or [])]):
        acknowledge(
            role,
            iam5_resource(flatten(bucket.arn_for_objects(key), stack)),
            f"Keys {key} are derived from investigation ids and log positions at run time "
            "(fixloop.sandbox.protocol); the role reaches that pattern of the one Blobs "
            "bucket, no other key.",
        )


def _grant_dispatch(
    role: iam.Role, *, storage: Storage, sandbox: SandboxCluster, reach: Reach
) -> None:
    """Start, find, replace and stop sandboxes; sign what a sandbox reads and puts (a
    pre-signed URL acts with the signer's permissions, SSE-KMS included); answer the task
    token itself when the result is already recorded (a retried dispatch), and heartbeat it
    while a sandbox starts."""
    storage.sandboxes.grant_read_write_data(role)
    sandbox.grant_dispatch(role)
    # A snapshot to restore (GET), the snapshot and the call's result to put (PUT).
    _grant_sandbox_objects(role, storage, read=[SNAPSHOTS], write=[SNAPSHOTS, SANDBOX_RESULTS])
    # The state machine ARN is the resource: see TASK_RESPONSE_ACTIONS in sandbox.py (the
    # dispatcher never fails a token: a failed dispatch raises, and the state retries).
    _allow(role, ["states:SendTaskSuccess", "states:SendTaskHeartbeat"], [reach.state_machine_arn])


def _grant_secrets(spec: FunctionSpec, role: iam.Role, secrets: Secrets) -> None:
    """The secrets the operator names (read, and described) and the ones the stack makes
    (values only)."""
    for wanted, secret in (
        (spec.calls_models, secrets.anthropic),
        (spec.github_credentials, secrets.github),
    ):
        if wanted and secret is not None:
            secret.grant_read(role)
    readable = [secret for _, secret in _posting_credentials(spec, secrets)]
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


def _grant_deployment_reads(role: iam.Role) -> None:
    """Read-only, what tells the aftercare a fix reached production and held there
    (fixloop.aftercare.deployment and .verification): Lambda versions, CloudFormation stack
    events, CodeDeploy deployments, log lines, alarm state and history. Each action on its
    resource type, as the Service Authorization Reference lists it."""
    stack = cdk.Stack.of(role)

    def arn(service: str, resource: str, name: str, sep: cdk.ArnFormat) -> str:
        return stack.format_arn(
            service=service, resource=resource, resource_name=name, arn_format=sep
        )

    colon, slash = cdk.ArnFormat.COLON_RESOURCE_NAME, cdk.ArnFormat.SLASH_RESOURCE_NAME
    functions = arn("lambda", "function", "*", colon)
    stacks = arn("cloudformation", "stack", "*/*", slash)
    groups = arn("codedeploy", "deploymentgroup", "*/*", colon)
    log_groups = arn("logs", "log-group", "*", colon)
    alarms = arn("cloudwatch", "alarm", "*", colon)
    _allow(role, ["lambda:GetFunction", "lambda:ListVersionsByFunction"], [functions])
    _allow(role, ["cloudformation:DescribeStackEvents"], [stacks])
    _allow(role, ["codedeploy:ListDeployments", "codedeploy:GetDeployment"], [groups])
    _allow(role, ["logs:FilterLogEvents"], [log_groups])
    _allow(role, ["cloudwatch:DescribeAlarmHistory", "cloudwatch:DescribeAlarms"], [alarms])
    reasons = {
        functions: "the Lambda functions fixloop watches are any of the account's: a new "
        "version of the one a signal names is the deployment of its fix (read-only)",
        stacks: "the stack that deploys a watched service is configured per target or read "
        "from its function's aws:cloudformation:stack-name tag at run time (read-only)",
        groups: "the CodeDeploy deployment group of a service is configured per target (read-only)",
        log_groups: "a service's own log lines carry the deployed commit (its version key); "
        "any log group a signal comes from may be the one to read (read-only)",
        alarms: "verifying a fix reads the history and state of the alarm that raised it, "
        "any alarm of the account (read-only)",
    }
    for resource, reason in reasons.items():
        acknowledge(role, iam5_resource(flatten(resource, stack)), f"Aftercare: {reason}.")


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
