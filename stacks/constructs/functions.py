"""fixloop's Lambda functions: thin handlers in ``functions/<name>/`` over the shared layer.

Loop steps are invoked by the state machine; entry points from outside: the GitHub webhook and
the signals API by API Gateway, the alarm trigger by EventBridge, the logs trigger by CloudWatch
Logs subscription filters (stacks/constructs/triggers.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from layers.bundler import PROJECT_ROOT
from stacks.constructs.layer import LAYER_ARCHITECTURE, LAYER_RUNTIME
from stacks.constructs.sandbox import SandboxCluster
from stacks.constructs.storage import Storage
from stacks.nag import acknowledge, acknowledge_key_grants, flatten, iam5_resource

__all__ = [
    "ALL_FUNCTIONS",
    "ENTRY_FUNCTIONS",
    "FUNCTIONS_DIR",
    "LOOP_FUNCTIONS",
    "ChannelSecrets",
    "FunctionSpec",
    "LoopFunctions",
]

FUNCTIONS_DIR = PROJECT_ROOT / "functions"
_SIGNING_ENV = {"slack": "SIGNING_SECRET_ARN", "linear": "WEBHOOK_SECRET_ARN"}


@dataclass(frozen=True)
class ChannelSecrets:
    """The Slack and Linear credentials (stacks/constructs/webhooks.py makes them)."""

    slack_signing_secret: secretsmanager.ISecret
    slack_bot_token: secretsmanager.ISecret
    linear_webhook_secret: secretsmanager.ISecret
    linear_api_key: secretsmanager.ISecret

    def signing_secret(self, channel: str) -> secretsmanager.ISecret:
        return {"slack": self.slack_signing_secret, "linear": self.linear_webhook_secret}[channel]


_ASSET_EXCLUDES = ["__pycache__", "*.pyc", "tests"]


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    """Folder under ``functions/`` and the key in :attr:`LoopFunctions.functions`."""
    construct_id: str
    """Also the ASL placeholder stem: ``${<construct_id>FunctionArn}``."""
    timeout_seconds: int
    memory_mb: int = 512
    blobs: bool = False
    """Whether the function reads and writes the Blobs bucket."""
    lists_blobs: bool = True
    """With ``blobs``: whether it may also list the bucket, which turns a read of a missing
    key into 404 (not 403). Functions that only read back keys they were given need not."""
    writes_records: bool = True
    """Whether the function writes the Events and Investigations tables (all read them)."""
    dispatches_sandboxes: bool = False
    """Whether the function starts sandbox tasks and calls them: it runs in the VPC, may
    run the sandbox task definition, owns the Sandboxes table and answers task tokens."""
    loop_step: bool = True
    """Whether the state machine invokes it (through ``${<construct_id>FunctionArn}``);
    if not, it is an entry point, invoked from outside (API Gateway, EventBridge, Logs)."""
    starts_executions: bool = False
    """Whether the function starts executions of the investigation state machine: it gets
    ``FIXLOOP_STATE_MACHINE_ARN`` and ``states:StartExecution`` on that one machine."""
    triages: bool = False
    """Whether the function turns signals into investigations through triage: it reads and
    writes the Fingerprints table and gets ``FIXLOOP_TARGETS`` and
    ``FIXLOOP_DEFAULT_GITHUB_REPO`` (which repository a signal is about)."""

    inbox: bool = False
    """Whether the function takes people's messages: it reads and writes the Inbox and Waits
    tables and answers task tokens (resumes an investigation waiting on a person)."""
    notes: bool = False
    """Whether the function leaves fixloop's own notices (a recurrence) in the Inbox table
    (no Waits, no task tokens: a notice never answers a question)."""
    posts: bool = False
    """Whether the function posts to the investigation's Slack thread and Linear issue: it
    reads the bot token and API key secrets and records its posts in the Inbox table."""
    channel_secret: str = ""
    """The inbound channel whose signing secret the function verifies requests with."""

    @property
    def description(self) -> str:
        kind = "loop step" if self.loop_step else "entry point"
        return f"fixloop {kind}: {self.name}"


LOOP_FUNCTIONS: tuple[FunctionSpec, ...] = (
    # Prepare moves the inbox into the log and announces the start.
    FunctionSpec("prepare", "Prepare", timeout_seconds=60, blobs=True, inbox=True, posts=True),
    FunctionSpec("model_turn", "ModelTurn", timeout_seconds=900, memory_mb=1024, blobs=True),
    FunctionSpec("run_tool", "RunTool", timeout_seconds=300, blobs=True),
    # Deliver and Mark Failed announce the outcome; Deliver wakes a delivered investigation
    # that received messages meanwhile.
    FunctionSpec(
        "deliver",
        "Deliver",
        timeout_seconds=120,
        blobs=True,
        inbox=True,
        posts=True,
        starts_executions=True,
    ),
    FunctionSpec("mark_failed", "MarkFailed", timeout_seconds=60, posts=True),
    # Wait For Human registers a question's task token and posts it; Park Unanswered parks
    # (and wakes again if a message came in the meantime).
    FunctionSpec(
        "wait_for_human",
        "WaitForHuman",
        timeout_seconds=60,
        inbox=True,
        posts=True,
        starts_executions=True,
    ),
    FunctionSpec(
        "dispatch_tool",
        "DispatchTool",
        timeout_seconds=300,
        writes_records=False,
        dispatches_sandboxes=True,
    ),
)
ENTRY_FUNCTIONS: tuple[FunctionSpec, ...] = (
    # The sandbox asks it for a read-only token to clone a private repository
    # (fixloop.sandbox.repo_access): the sandbox never holds the GitHub credentials.
    FunctionSpec(
        "repo_token", "RepoToken", timeout_seconds=30, loop_step=False, writes_records=False
    ),
    # Review feedback on a delivered pull request resumes its investigation.
    FunctionSpec(
        "github_webhook",
        "GitHubWebhook",
        timeout_seconds=30,
        loop_step=False,
        starts_executions=True,
        inbox=True,
        blobs=True,  # a very long review comment is an event body too large for an item
    ),
    # People's messages: Slack (acknowledged at once, processed by an asynchronous
    # invocation of itself), Linear, and the REST API (read an investigation, post to it).
    FunctionSpec(
        "slack_events",
        "SlackEvents",
        timeout_seconds=30,
        loop_step=False,
        starts_executions=True,
        inbox=True,
        channel_secret="slack",
    ),
    FunctionSpec(
        "linear_webhook",
        "LinearWebhook",
        timeout_seconds=30,
        loop_step=False,
        starts_executions=True,
        inbox=True,
        channel_secret="linear",
    ),
    FunctionSpec(
        "investigations_api",
        "InvestigationsApi",
        timeout_seconds=30,
        loop_step=False,
        starts_executions=True,
        inbox=True,
        blobs=True,  # reading the log reads bodies offloaded to Blobs
        lists_blobs=False,
    ),
    # Signals become investigations through triage (fixloop.intake.triggers): an alarm going
    # into ALARM (EventBridge), error lines of a log group (a CloudWatch Logs subscription),
    # or a signal POSTed by an authenticated caller (POST /signals). A log signal's lines may
    # make an event body too large for an item: written to, and read back from, Blobs.
    *(
        FunctionSpec(
            name,
            construct_id,
            timeout_seconds=60,
            loop_step=False,
            starts_executions=True,
            triages=True,
            notes=True,  # a recurrence is told to the investigation through its inbox
            blobs=True,
            lists_blobs=False,
        )
        for name, construct_id in (
            ("alarm_trigger", "AlarmTrigger"),
            ("logs_trigger", "LogsTrigger"),
            ("api_trigger", "ApiTrigger"),
        )
    ),
)
ALL_FUNCTIONS = LOOP_FUNCTIONS + ENTRY_FUNCTIONS


class LoopFunctions(Construct):
    """One function per loop step and entry point, each with its own role, log group and
    least privileges.

    ``state_machine_arn`` is the investigation state machine's ARN built from its fixed name
    (the state machine itself depends on these functions, so it cannot be referenced);
    ``start_arn`` (default: the same) is what functions start executions with, its ``live``
    alias. Loop steps also publish a version per change (:attr:`versions`, retained on
    update) that the state machine definition names.
    ``sandbox`` is where functions that dispatch to sandboxes run their tasks (and its
    network, where those functions are attached). ``github_webhook_secret`` is the secret
    GitHub signs webhook deliveries with, which only the ``github_webhook`` function reads.
    ``targets`` (JSON) and ``default_github_repo`` tell the triaging functions which
    repository a signal is about.
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
        functions_dir: Path = FUNCTIONS_DIR,
        specs: tuple[FunctionSpec, ...] = ALL_FUNCTIONS,
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
            "FIXLOOP_MODEL": model,
            "POWERTOOLS_SERVICE_NAME": "fixloop",
            "POWERTOOLS_METRICS_NAMESPACE": "fixloop",
            "LOG_LEVEL": "INFO",
        }
        self.specs = specs
        # The secret each function reads, and the variable that names it.
        secrets = {
            "model_turn": ("FIXLOOP_ANTHROPIC_SECRET_ARN", anthropic_secret),
            "deliver": ("FIXLOOP_GITHUB_SECRET_ARN", github_secret),
            # narrows the GitHub credentials to a read-only clone token for the sandbox
            "repo_token": ("FIXLOOP_GITHUB_SECRET_ARN", github_secret),
        }
        self.functions: dict[str, lambda_.Function] = {}
        self.roles: dict[str, iam.Role] = {}
        for spec in specs:
            env = dict(common_env)
            if spec.name == "prepare" or spec.starts_executions:
                env["FIXLOOP_STATE_MACHINE_ARN"] = start_arn or state_machine_arn
            secret_variable, secret = secrets.get(spec.name, ("", None))
            if secret is not None:
                env[secret_variable] = secret.secret_arn
            if spec.name == "github_webhook" and github_webhook_secret is not None:
                env["FIXLOOP_GITHUB_WEBHOOK_SECRET_ARN"] = github_webhook_secret.secret_arn
            if spec.dispatches_sandboxes:
                env.update(sandbox.dispatch_environment())
            if spec.triages:
                env["FIXLOOP_TARGETS"] = targets
                env["FIXLOOP_DEFAULT_GITHUB_REPO"] = default_github_repo
            env.update(
                self._people_environment(
                    spec,
                    channel_secrets,
                    slack_channel=slack_channel,
                    linear_team_id=linear_team_id,
                )
            )
            role = self.roles[spec.name] = iam.Role(
                self,
                f"{spec.construct_id}Role",
                assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                description=f"fixloop {spec.name} function",
            )
            if secret is not None:
                secret.grant_read(role)
            self.functions[spec.name] = self._function(
                spec,
                role=role,
                layer=layer,
                env=env,
                functions_dir=functions_dir,
                sandbox=sandbox if spec.dispatches_sandboxes else None,
            )
            # Every step reads the log and the investigation record; most also write them.
            if spec.writes_records:
                storage.events.grant_read_write_data(role)
                storage.investigations.grant_read_write_data(role)
            else:
                storage.events.grant_read_data(role)
                storage.investigations.grant_read_data(role)
            if spec.blobs:
                self._grant_blobs(role, storage, list_bucket=spec.lists_blobs)
            if spec.triages:
                storage.fingerprints.grant_read_write_data(role)
            self._grant_people(
                spec,
                role,
                storage=storage,
                state_machine_arn=state_machine_arn,
                channel_secrets=channel_secrets,
            )
            if spec.dispatches_sandboxes:
                self._grant_dispatch(
                    role, storage=storage, sandbox=sandbox, state_machine_arn=state_machine_arn
                )
            if spec.starts_executions:
                # The ARN built from the machine's name (as for prepare and the machine's own
                # continue-as-new): no reference to the state machine, so no dependency cycle.
                role.add_to_principal_policy(
                    iam.PolicyStatement(
                        actions=["states:StartExecution"], resources=[state_machine_arn]
                    )
                )

        # The published version of each loop step: a new one whenever its code or
        # configuration changes, the previous one retained for executions still on it.
        self.versions: dict[str, lambda_.IVersion] = {
            spec.name: self.functions[spec.name].current_version for spec in specs if spec.loop_step
        }
        acknowledge_key_grants(self)

        deliver = self.roles.get("deliver")
        if deliver is not None:
            # Deliver reads the workspace snapshot (the change) the sandbox left.
            storage.sandboxes.grant_read_data(deliver)

        self._grant_conversation(storage)

        # The model's telemetry tools run in run_tool; the model is called from model_turn.
        for name, grant in (
            ("run_tool", self._grant_telemetry),
            ("model_turn", self._grant_bedrock),
        ):
            if name in self.roles:
                grant(self.roles[name])

        github_webhook = self.roles.get("github_webhook")
        if github_webhook is not None and github_webhook_secret is not None:
            _grant_secret_values(github_webhook, [github_webhook_secret])

    def _grant_conversation(self, storage: Storage) -> None:
        """Model Turn reads the inbox; the Slack function invokes itself."""
        model_turn_role = self.roles.get("model_turn")
        if model_turn_role is not None:
            # A concluding turn defers while messages wait in the inbox.
            storage.inbox.grant_read_data(model_turn_role)

        slack = self.functions.get("slack_events")
        if slack is not None:
            # Acknowledge at once, process in an asynchronous invocation of itself. A policy of
            # its own: the role's default policy naming the function would be a dependency
            # cycle (the function waits for its role's default policy).
            iam.Policy(
                self,
                "SlackEventsInvokesItself",
                roles=[self.roles["slack_events"]],
                statements=[
                    iam.PolicyStatement(
                        actions=["lambda:InvokeFunction"], resources=[slack.function_arn]
                    )
                ],
            )

    @staticmethod
    def _people_environment(
        spec: FunctionSpec,
        channel_secrets: ChannelSecrets | None,
        *,
        slack_channel: str,
        linear_team_id: str,
    ) -> dict[str, str]:
        """Where a function finds the Slack and Linear credentials it needs."""
        env: dict[str, str] = {}
        if spec.posts and channel_secrets is not None:
            env["FIXLOOP_SLACK_BOT_TOKEN_ARN"] = channel_secrets.slack_bot_token.secret_arn
            env["FIXLOOP_SLACK_CHANNEL"] = slack_channel
            env["FIXLOOP_LINEAR_API_KEY_ARN"] = channel_secrets.linear_api_key.secret_arn
            env["FIXLOOP_LINEAR_TEAM_ID"] = linear_team_id
        if spec.channel_secret and channel_secrets is not None:
            secret = channel_secrets.signing_secret(spec.channel_secret)
            env[f"FIXLOOP_{spec.channel_secret.upper()}_{_SIGNING_ENV[spec.channel_secret]}"] = (
                secret.secret_arn
            )
        return env

    @staticmethod
    def _grant_people(
        spec: FunctionSpec,
        role: iam.Role,
        *,
        storage: Storage,
        state_machine_arn: str,
        channel_secrets: ChannelSecrets | None,
    ) -> None:
        """Inbox and Waits, task tokens, and the Slack/Linear secrets a function needs."""
        if spec.inbox or spec.posts or spec.notes:
            storage.inbox.grant_read_write_data(role)
        if spec.inbox:
            storage.waits.grant_read_write_data(role)
            # Answering a question's task token (the state machine is the resource).
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=["states:SendTaskSuccess"], resources=[state_machine_arn]
                )
            )
        if channel_secrets is not None:
            readable = []
            if spec.posts:
                readable += [channel_secrets.slack_bot_token, channel_secrets.linear_api_key]
            if spec.channel_secret:
                readable.append(channel_secrets.signing_secret(spec.channel_secret))
            if readable:
                _grant_secret_values(role, readable)

    def _function(
        self,
        spec: FunctionSpec,
        *,
        role: iam.Role,
        layer: lambda_.ILayerVersion,
        env: dict[str, str],
        functions_dir: Path,
        sandbox: SandboxCluster | None,
    ) -> lambda_.Function:
        code_dir = functions_dir / spec.name
        if not (code_dir / "handler.py").is_file():
            raise FileNotFoundError(
                f"{code_dir / 'handler.py'} is missing: no handler for the {spec.name} function"
            )
        log_group = logs.LogGroup(
            self, f"{spec.construct_id}Logs", retention=logs.RetentionDays.ONE_MONTH
        )
        # The role is ours, not CDK's default with AWSLambdaBasicExecutionRole: it may write
        # to this function's log group only, not create or write to any log group.
        log_group.grant_write(role)
        network = sandbox.network if sandbox is not None else None
        fn = lambda_.Function(
            self,
            spec.construct_id,
            runtime=LAYER_RUNTIME,
            architecture=LAYER_ARCHITECTURE,
            code=lambda_.Code.from_asset(str(code_dir), exclude=_ASSET_EXCLUDES),
            handler="handler.lambda_handler",
            layers=[layer],
            memory_size=spec.memory_mb,
            timeout=cdk.Duration.seconds(spec.timeout_seconds),
            tracing=lambda_.Tracing.ACTIVE,
            # A published version (current_version, loop steps) is kept when a deployment
            # publishes the next one: a state machine version still running names it.
            current_version_options=lambda_.VersionOptions(
                removal_policy=cdk.RemovalPolicy.RETAIN,
                description=f"fixloop {spec.name}, published by the CDK deployment",
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
        if spec.name == "run_tool":
            wildcard_reason += (
                " So do the telemetry reads of the model's tools (Logs Insights results, "
                "GetMetricData, X-Ray trace summaries and traces), all read-only."
            )
        if network is not None:
            self._grant_network_interfaces(role)
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
        return fn

    @staticmethod
    def _grant_blobs(role: iam.Role, storage: Storage, *, list_bucket: bool = True) -> None:
        """Read and write objects (and, with ``list_bucket``, list them); no delete, no
        bucket configuration."""
        bucket = storage.blobs
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:PutObject"],
                resources=[bucket.arn_for_objects("*")],
            )
        )
        if list_bucket:
            # ListBucket turns a read of a missing key into 404 (not 403).
            role.add_to_principal_policy(
                iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket.bucket_arn])
            )
        storage.grant_key(role, write=True)
        acknowledge(
            role,
            iam5_resource(flatten(bucket.arn_for_objects("*"), cdk.Stack.of(bucket))),
            "Blob keys are derived from investigation ids at run time; the functions need "
            "every object of this one bucket.",
        )

    @staticmethod
    def _grant_network_interfaces(role: iam.Role) -> None:
        """What Lambda does with the role to attach the function to the VPC. (A function
        given its own role gets no AWSLambdaVPCAccessExecutionRole from CDK.)"""
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

    @staticmethod
    def _grant_dispatch(
        role: iam.Role, *, storage: Storage, sandbox: SandboxCluster, state_machine_arn: str
    ) -> None:
        """Start, find and replace sandboxes; answer the task token itself when the result
        is already in the log (a retried dispatch)."""
        storage.sandboxes.grant_read_write_data(role)
        sandbox.grant_dispatch(role)
        # Reading an event may read its body, offloaded under events/ when too large.
        event_bodies = storage.blobs.arn_for_objects("events/*")
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[event_bodies])
        )
        storage.grant_key(role, write=False)
        # The state machine ARN is the resource: see TASK_RESPONSE_ACTIONS in sandbox.py.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["states:SendTaskSuccess", "states:SendTaskFailure"],
                resources=[state_machine_arn],
            )
        )
        acknowledge(
            role,
            iam5_resource(flatten(event_bodies, cdk.Stack.of(storage.blobs))),
            "Event bodies too large for DynamoDB are stored under events/<investigation>/; "
            "reading an event of any investigation may need its body. Read only.",
        )

    def _grant_telemetry(self, role: iam.Role) -> None:
        """Read-only telemetry for the model's tools (fixloop.tools.telemetry): Logs Insights,
        metrics, X-Ray traces and Lambda versions of the watched services."""
        stack = cdk.Stack.of(self)
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
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["logs:StartQuery"], resources=[log_groups])
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["lambda:GetFunction", "lambda:ListVersionsByFunction", "lambda:ListTags"],
                resources=[functions],
            )
        )
        # These actions have no resource types: the Service Authorization Reference lists
        # them for "*" only.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[
                    "logs:GetQueryResults",
                    "logs:StopQuery",
                    "cloudwatch:GetMetricData",
                    "xray:GetTraceSummaries",
                    "xray:BatchGetTraces",
                ],
                resources=["*"],
            )
        )
        reason = (
            "Read-only telemetry of the services fixloop watches: any log group or function of "
            "the account may be the one an alarm names; the query, metric and trace reads have "
            "no resource-level permissions."
        )
        for arn in (log_groups, functions):
            acknowledge(role, iam5_resource(flatten(arn, stack)), reason)

    def _grant_bedrock(self, role: iam.Role) -> None:
        """Invoke Anthropic models on Bedrock, directly or through inference profiles."""
        stack = cdk.Stack.of(self)
        # Cross-region inference profiles route to the model in other regions (and global
        # ones to a region-less ARN), hence the region wildcard on foundation models.
        foundation_models = f"arn:{stack.partition}:bedrock:*::foundation-model/anthropic.*"
        inference_profiles = stack.format_arn(
            service="bedrock",
            resource="inference-profile",
            resource_name="*anthropic.*",
            arn_format=cdk.ArnFormat.SLASH_RESOURCE_NAME,
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
                resources=[foundation_models, inference_profiles],
            )
        )
        reason = (
            "fixloop speaks the Anthropic Messages API; the model id is chosen per "
            "investigation at run time, so access is scoped to Anthropic models, not one id."
        )
        for arn in (foundation_models, inference_profiles):
            acknowledge(role, iam5_resource(flatten(arn, stack)), reason)


def _grant_secret_values(role: iam.Role, secrets: list[secretsmanager.ISecret]) -> None:
    """Read the values of ``secrets`` (grant_read would add DescribeSecret too), decrypting
    them with their keys through Secrets Manager only."""
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["secretsmanager:GetSecretValue"],
            resources=[secret.secret_arn for secret in secrets],
        )
    )
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
