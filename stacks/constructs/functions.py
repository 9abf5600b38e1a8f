"""fixloop's Lambda functions in AWS, each built from its catalogue entry (fixloop/functions.py).

:func:`lambda_function` makes one function: thin handler in ``functions/<folder>/`` over the
shared layer, its own role and log group, the entry's size and handler. :class:`LoopFunctions`
makes the loop steps and the entry points with their environment, and grants each what its
entry says (stacks/constructs/grants.py). Loop steps are invoked by the state machine; entry
points from outside: the webhooks and the signals API by API Gateway (webhooks.py), the signal
trigger by EventBridge and CloudWatch Logs subscription filters (triggers.py), Reconcile by the
state machine's status changes (reconcile.py), Repo Token by the dispatcher (the functions an
entry ``invokes``). Those invoked asynchronously send what failed to a queue of their own
(failures.py). The live functions are made with their APIs (live.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from fixloop.functions import CATALOGUE, FunctionSpec, Surface
from layers.bundler import PROJECT_ROOT
from stacks.config import People
from stacks.constructs.failures import failure_queue, send_async_failures
from stacks.constructs.grants import (
    ChannelSecrets,
    Reach,
    Secrets,
    grant,
    grant_invokes,
    secret_environment,
)
from stacks.constructs.layer import LAYER_ARCHITECTURE, LAYER_RUNTIME
from stacks.constructs.network import Network
from stacks.constructs.sandbox import SandboxCluster
from stacks.constructs.storage import Storage
from stacks.nag import acknowledge, acknowledge_key_grants, iam5_resource

__all__ = ["FUNCTIONS_DIR", "LoopFunctions", "lambda_function", "version_description"]

FUNCTIONS_DIR = PROJECT_ROOT / "functions"
_ASSET_EXCLUDES = ["__pycache__", "*.pyc", "tests"]
_LOOP_AND_ENTRY = tuple(spec for spec in CATALOGUE if spec.surface is not Surface.LIVE)


def lambda_function(
    scope: Construct,
    spec: FunctionSpec,
    *,
    layer: lambda_.ILayerVersion,
    env: dict[str, str],
    functions_dir: Path = FUNCTIONS_DIR,
    network: Network | None = None,
    version_follows: Mapping[str, str] | None = None,
) -> tuple[lambda_.Function, iam.Role]:
    """The function of ``spec`` and its role (which may write its log group, nothing else
    yet); attached to ``network``'s private subnets when one is given.

    ``version_follows``: deploy-time values (a label -> a token, e.g. a task definition's
    ARN) that its published version must follow. They are written into the version's
    description, which CloudFormation cannot update in place (``Description`` is a
    create-only property of ``AWS::Lambda::Version``): when one changes, the version is
    replaced, so a new one is published from the updated configuration. CDK's own version
    hash sees only the token (``{"Ref": ...}``), which stays the same when the resource
    behind it is replaced, and a CloudFormation parameter's value, which it cannot see.
    """
    code_dir = functions_dir / spec.folder
    if not (code_dir / spec.handler_file).is_file():
        raise FileNotFoundError(
            f"{code_dir / spec.handler_file} is missing: no handler for the {spec.folder} function"
        )
    role = iam.Role(
        scope,
        f"{spec.construct_id}Role",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description=f"fixloop {spec.folder} function",
    )
    log_group = logs.LogGroup(
        scope, f"{spec.construct_id}Logs", retention=logs.RetentionDays.ONE_MONTH
    )
    # The role is ours, not CDK's default with AWSLambdaBasicExecutionRole: it may write to
    # this function's log group only, not create or write to any log group.
    log_group.grant_write(role)
    fn = lambda_.Function(
        scope,
        spec.construct_id,
        runtime=LAYER_RUNTIME,
        architecture=LAYER_ARCHITECTURE,
        code=lambda_.Code.from_asset(str(code_dir), exclude=_ASSET_EXCLUDES),
        handler=spec.handler,
        layers=[layer],
        memory_size=spec.memory_mb,
        timeout=cdk.Duration.seconds(spec.timeout_seconds),
        tracing=lambda_.Tracing.ACTIVE,
        # A published version (current_version, loop steps) is kept when a deployment
        # publishes the next one: a state machine version still running names it.
        current_version_options=lambda_.VersionOptions(
            removal_policy=cdk.RemovalPolicy.RETAIN,
            description=version_description(spec, version_follows or {}),
        ),
        log_group=log_group,
        role=role,
        environment=env,
        description=spec.description,
        vpc=network.vpc if network is not None else None,
        vpc_subnets=network.private_subnet_selection if network is not None else None,
        security_groups=[network.dispatch_security_group] if network is not None else None,
    )
    wildcard_reason = (
        "X-Ray PutTraceSegments and PutTelemetryRecords (active tracing) support no "
        "resource-level permissions; '*' is the only valid resource."
    )
    if spec.reads_telemetry:
        wildcard_reason += (
            " So do the telemetry reads of the model's tools (Logs Insights results, "
            "GetMetricData, X-Ray trace summaries and traces), all read-only."
        )
    if network is not None:
        _grant_network_interfaces(role)
        wildcard_reason += (
            " So do the EC2 network interface actions Lambda needs to attach a function "
            "to its VPC (those of the AWSLambdaVPCAccessExecutionRole managed policy)."
        )
    acknowledge(role, iam5_resource("*"), wildcard_reason)
    acknowledge(
        fn,
        "AwsSolutions-L1",
        "Pinned to python3.13: the shared layer's wheels are built for cp313 "
        "(layers/bundler.py); runtime and layer move to a newer Python together.",
    )
    return fn, role


def version_description(spec: FunctionSpec, follows: Mapping[str, str]) -> str:
    """The description of the function's published versions, naming what they follow."""
    described = f"fixloop {spec.folder}, published by the CDK deployment"
    return "; ".join([described, *(f"{label} {value}" for label, value in follows.items())])


def _grant_network_interfaces(role: iam.Role) -> None:
    """What Lambda does with the role to attach the function to the VPC. (A function given
    its own role gets no AWSLambdaVPCAccessExecutionRole from CDK.)"""
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=[
                "ec2:CreateNetworkInterface",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DescribeSubnets",
                "ec2:DeleteNetworkInterface",
                "ec2:AssignPrivateIpAddresses",
                "ec2:UnassignPrivateIpAddresses",
            ],
            resources=["*"],
        )
    )


class LoopFunctions(Construct):
    """The loop steps and entry points of the catalogue, each with its own role, log group
    and least privileges.

    ``state_machine_arn`` is the investigation state machine's ARN built from its fixed name
    (the state machine itself depends on these functions, so it cannot be referenced);
    ``start_arn`` (default: the same) is what functions start executions with, its ``live``
    alias. Loop steps also publish a version per change (:attr:`versions`, retained on
    update) that the state machine definition names. ``aftercare_arn`` and
    ``aftercare_start_arn`` are the same for the aftercare state machine (its aftercare steps
    publish versions too).
    ``sandbox`` is where functions that dispatch to sandboxes run their tasks (and its
    network, where those functions are attached). ``github_webhook_secret`` is the secret
    GitHub signs webhook deliveries with. ``targets`` (JSON) and ``default_github_repo`` tell
    the triaging functions which repository a signal is about. ``people`` tells the functions
    that receive a channel's requests who may reach the agent through it.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        storage: Storage,
        layer: lambda_.ILayerVersion,
        model: str,
        state_machine_arn: str,
        sandbox: SandboxCluster,
        start_arn: str | None = None,
        aftercare_arn: str = "",
        aftercare_start_arn: str = "",
        anthropic_secret: secretsmanager.ISecret | None = None,
        github_secret: secretsmanager.ISecret | None = None,
        github_webhook_secret: secretsmanager.ISecret | None = None,
        targets: str = "{}",
        default_github_repo: str = "",
        channel_secrets: ChannelSecrets | None = None,
        slack_channel: str = "",
        linear_team_id: str = "",
        human_timeout_seconds: int = 86_400,
        require_approval: bool = False,
        unverified_pull_requests: str = "draft",
        verify_attempts: int = 3,
        people: People | None = None,
        functions_dir: Path = FUNCTIONS_DIR,
        specs: tuple[FunctionSpec, ...] = _LOOP_AND_ENTRY,
    ) -> None:
        super().__init__(scope, construct_id)
        common_env = {
            "FIXLOOP_EVENTS_TABLE": storage.events.table_name,
            "FIXLOOP_INVESTIGATIONS_TABLE": storage.investigations.table_name,
            "FIXLOOP_SANDBOXES_TABLE": storage.sandboxes.table_name,
            "FIXLOOP_FINGERPRINTS_TABLE": storage.fingerprints.table_name,
            "FIXLOOP_BLOBS_BUCKET": storage.blobs.bucket_name,
            "FIXLOOP_INBOX_TABLE": storage.inbox.table_name,
            "FIXLOOP_WAITS_TABLE": storage.waits.table_name,
            "FIXLOOP_HUMAN_TIMEOUT_SECONDS": str(human_timeout_seconds),
            "FIXLOOP_REQUIRE_APPROVAL": "true" if require_approval else "false",
            "FIXLOOP_UNVERIFIED_PULL_REQUESTS": unverified_pull_requests,
            "FIXLOOP_VERIFY_ATTEMPTS": str(verify_attempts),
            "FIXLOOP_MODEL": model,
            "POWERTOOLS_SERVICE_NAME": "fixloop",
            "POWERTOOLS_METRICS_NAMESPACE": "fixloop",
            "LOG_LEVEL": "INFO",
        }
        reach = Reach(
            storage=storage,
            state_machine_arn=state_machine_arn,
            aftercare_state_machine_arn=aftercare_arn,
            sandbox=sandbox,
            secrets=Secrets(
                anthropic=anthropic_secret,
                github=github_secret,
                github_webhook=github_webhook_secret,
                channels=channel_secrets,
            ),
        )
        self.specs = specs
        self.functions: dict[str, lambda_.Function] = {}
        self.roles: dict[str, iam.Role] = {}
        self.failure_queues: dict[str, sqs.Queue] = {}
        """Where the asynchronously invoked functions' failed events go, by folder."""
        for spec in specs:
            env = dict(common_env)
            if spec.knows_state_machine or spec.starts_executions:
                env["FIXLOOP_STATE_MACHINE_ARN"] = start_arn or state_machine_arn
            if spec.starts_aftercare:
                env["FIXLOOP_AFTERCARE_STATE_MACHINE_ARN"] = aftercare_start_arn or aftercare_arn
            env.update(secret_environment(spec, reach.secrets))
            if spec.dispatches_sandboxes:
                env.update(sandbox.dispatch_environment())
            elif spec.stops_sandboxes:
                env.update(sandbox.stop_environment())
            if spec.triages:
                env["FIXLOOP_TARGETS"] = targets
                env["FIXLOOP_DEFAULT_GITHUB_REPO"] = default_github_repo
            if spec.posts and channel_secrets is not None:
                env["FIXLOOP_SLACK_CHANNEL"] = slack_channel
                env["FIXLOOP_LINEAR_TEAM_ID"] = linear_team_id
            if spec.signing_secret and people is not None:
                env.update(people.environment(spec.signing_secret))
            fn, role = lambda_function(
                self,
                spec,
                layer=layer,
                env=env,
                functions_dir=functions_dir,
                network=sandbox.network if spec.dispatches_sandboxes else None,
                # A new sandbox revision reaches the version the state machine names.
                version_follows=sandbox.version_follows() if spec.dispatches_sandboxes else None,
            )
            grant(self, spec, role, fn, reach)
            if spec.invoked_asynchronously:
                queue = failure_queue(self, f"{spec.construct_id}Failures", key=storage.key)
                send_async_failures(fn, queue)
                self.failure_queues[spec.folder] = queue
            self.functions[spec.folder] = fn
            self.roles[spec.folder] = role
        # Once every function exists: those invoked by name, for the ones that invoke them.
        for spec in specs:
            grant_invokes(
                spec, self.functions[spec.folder], self.roles[spec.folder], self.functions
            )

        # The published version of each loop step: a new one whenever its code or
        # configuration changes, the previous one retained for executions still on it.
        self.versions: dict[str, lambda_.IVersion] = {
            spec.folder: self.functions[spec.folder].current_version
            for spec in specs
            if spec.surface in (Surface.LOOP, Surface.AFTERCARE)
        }
        acknowledge_key_grants(self)
