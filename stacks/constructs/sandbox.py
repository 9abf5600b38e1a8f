"""The sandbox in AWS: an ECS cluster and the Fargate task definition ``fixloop-sandbox``.

One task serves the code tools of one investigation (``python -m fixloop.sandbox serve``):
the dispatch function starts it with ``ecs:RunTask`` in the private subnets, without a public
IP, and posts it each tool call with everything the call needs (pre-signed URLs for what it
puts included); the task answers the call's Step Functions task token, and stops when idle or
when its investigation closes (Deliver, Mark Failed).

The sandbox runs the model's commands on the repository's code, so it holds nothing worth
stealing: its role may answer task tokens of one state machine and nothing else (no table,
no bucket, no key, no function), and its environment names no table, bucket or secret.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from fixloop.config import Settings
from layers.bundler import PROJECT_ROOT
from stacks.constructs.network import SANDBOX_PORT, Network
from stacks.nag import acknowledge, flatten, iam5_resource

__all__ = [
    "SANDBOX_COMMAND",
    "SANDBOX_CONTAINER",
    "SANDBOX_DOCKERFILE",
    "SANDBOX_FAMILY",
    "SANDBOX_HEARTBEAT_SECONDS",
    "SANDBOX_IDLE_SECONDS",
    "SANDBOX_IMAGE_EXCLUDES",
    "TASK_RESPONSE_ACTIONS",
    "SandboxCluster",
]

SANDBOX_FAMILY = "fixloop-sandbox"
SANDBOX_CONTAINER = "sandbox"
SANDBOX_DOCKERFILE = "sandbox/Dockerfile"
SANDBOX_COMMAND = ["python", "-m", "fixloop.sandbox", "serve", "--port", str(SANDBOX_PORT)]
SANDBOX_HEARTBEAT_SECONDS = Settings.model_fields["sandbox_heartbeat_seconds"].default
SANDBOX_IDLE_SECONDS = Settings.model_fields["sandbox_idle_seconds"].default
"""The sandbox's settings are the runtime's defaults, which the functions use too (Prepare
puts the heartbeat interval in the loop's payload): one value on both sides."""

SANDBOX_IMAGE_EXCLUDES = [
    # Docker ignore syntax, applied to the repository root (the build context): everything
    # is left out except what sandbox/Dockerfile copies, so the staged context stays small
    # and its hash (the image tag) changes only when the image's inputs do. This leaves out
    # .venv, cdk.out, .git, tests, functions/, stacks/... without naming each one.
    "*",
    "!sandbox/Dockerfile",
    "!pyproject.toml",
    "!README.md",
    "!fixloop",
    "**/__pycache__",
    "**/*.pyc",
]

# Where SendTaskSuccess/Failure/Heartbeat are authorised (checked 2026-11):
# - The Service Authorization Reference (list_awsstepfunctions.html) lists no resource type
#   for these three actions, which by its own legend means "Resource": "*" only.
# - In practice Step Functions evaluates them against the state machine whose execution issued
#   the token: the AccessDenied of a missing grant reads "... is not authorized to perform:
#   states:SendTaskFailure on resource: arn:aws:states:<region>:<account>:stateMachine:<name>"
#   (NOAA-OWP/hydrovis#837), a test recorded in aws/aws-cdk#8486 found callbacks of a Lambda
#   task allowed with the state machine ARN as the resource (activity tokens: the activity
#   ARN), and CDK's StateMachine.grantTaskResponse grants exactly that.
# So the grants name the state machine ARN. If a deployment ever answers AccessDenied on a
# token here, the fallback is "*" (acknowledged as IAM5), not a broader state machine pattern.
TASK_RESPONSE_ACTIONS = (
    "states:SendTaskSuccess",
    "states:SendTaskFailure",
    "states:SendTaskHeartbeat",
)


class SandboxCluster(Construct):
    """Cluster, task definition, task and execution roles, log group of the sandbox.

    ``state_machine_arn``: the investigation state machine, whose task tokens the sandbox
    answers (built from its name, as for the functions, to avoid a dependency cycle).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        network: Network,
        state_machine_arn: str,
        image_uri: str = "",
    ) -> None:
        super().__init__(scope, construct_id)
        self.network = network
        self.state_machine_arn = state_machine_arn

        self.cluster = ecs.Cluster(
            self,
            "Cluster",
            vpc=network.vpc,
            container_insights_v2=ecs.ContainerInsights.ENABLED,
        )
        self.log_group = logs.LogGroup(self, "Logs", retention=logs.RetentionDays.ONE_MONTH)

        self.task_role = iam.Role(
            self,
            "TaskRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description="fixloop sandbox task: answers task tokens, nothing else",
        )
        # Exactly what the sandbox program calls: no table, bucket, key or function.
        self.task_role.add_to_principal_policy(
            iam.PolicyStatement(actions=list(TASK_RESPONSE_ACTIONS), resources=[state_machine_arn])
        )
        # CDK adds what the execution role needs as the task definition is built: pulling
        # the image asset from the bootstrap repository and writing to the log group.
        self.execution_role = iam.Role(
            self,
            "ExecutionRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description="fixloop sandbox task execution: image pull and logs",
        )

        self.task_definition = ecs.FargateTaskDefinition(
            self,
            "TaskDefinition",
            family=SANDBOX_FAMILY,
            cpu=1024,
            memory_limit_mib=2048,
            ephemeral_storage_gib=30,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.ARM64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
            task_role=self.task_role,
            execution_role=self.execution_role,
        )
        # A change registers a new revision (CloudFormation replaces the resource); the one it
        # replaces stays registered (ACTIVE) instead of being deregistered: executions still
        # running on an older Dispatch Tool version start sandboxes of the revision that
        # version names (docs/architecture.md, "Deployment"). Retained on deletion too (a
        # registered revision costs nothing; docs/deploying.md says how to deregister them).
        self.task_definition.apply_removal_policy(cdk.RemovalPolicy.RETAIN)
        self.container = self.task_definition.add_container(
            "Sandbox",
            container_name=SANDBOX_CONTAINER,
            image=self._image(image_uri),
            command=SANDBOX_COMMAND,
            port_mappings=[ecs.PortMapping(container_port=SANDBOX_PORT, protocol=ecs.Protocol.TCP)],
            logging=ecs.LogDrivers.aws_logs(stream_prefix="sandbox", log_group=self.log_group),
            # What the server needs to run, nothing it could be robbed of: each call brings
            # its own facts and the URLs it puts to (the dispatcher adds the investigation and
            # the sandbox id as overrides when it starts the task).
            environment={
                "AWS_DEFAULT_REGION": cdk.Stack.of(self).region,
                "FIXLOOP_SANDBOX_HEARTBEAT_SECONDS": str(SANDBOX_HEARTBEAT_SECONDS),
                "FIXLOOP_SANDBOX_IDLE_SECONDS": str(SANDBOX_IDLE_SECONDS),
                "POWERTOOLS_SERVICE_NAME": "fixloop-sandbox",
            },
            essential=True,
        )
        self._acknowledge()

    def _image(self, image_uri: str) -> ecs.ContainerImage:
        """The image at ``image_uri`` (already in ECR), else sandbox/Dockerfile as an image
        asset: staged at synth (no Docker), built and pushed to the bootstrap repository by
        ``cdk deploy`` (Docker needed there)."""
        if not image_uri:
            return ecs.ContainerImage.from_asset(
                str(PROJECT_ROOT),
                file=SANDBOX_DOCKERFILE,
                exclude=SANDBOX_IMAGE_EXCLUDES,
                ignore_mode=cdk.IgnoreMode.DOCKER,
                platform=ecr_assets.Platform.LINUX_ARM64,
            )
        # A registry image: the execution role pulls it itself (CDK grants nothing for it).
        self.execution_role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[
                    "ecr:GetAuthorizationToken",
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                ],
                resources=["*"],
            )
        )
        return ecs.ContainerImage.from_registry(image_uri)

    def dispatch_environment(self) -> dict[str, str]:
        """What the dispatch function needs to run a sandbox task and reach it."""
        return {
            **self.stop_environment(),
            "FIXLOOP_SANDBOX_TASK_DEFINITION": self.task_definition.task_definition_arn,
            "FIXLOOP_SANDBOX_SUBNETS": ",".join(self.network.private_subnets.subnet_ids),
            "FIXLOOP_SANDBOX_SECURITY_GROUPS": (
                self.network.sandbox_security_group.security_group_id
            ),
            "FIXLOOP_SANDBOX_CONTAINER": SANDBOX_CONTAINER,
            "FIXLOOP_SANDBOX_PORT": str(SANDBOX_PORT),
            # S3 by its regional name in every region (us-east-1 included), for the function's
            # own calls and the URLs it signs: the VPC's DNS allow-list holds that name only.
            "AWS_S3_US_EAST_1_REGIONAL_ENDPOINT": "regional",
        }

    def version_follows(self) -> dict[str, str]:
        """What a dispatcher's published version must follow: the revision it runs (its
        ``FIXLOOP_SANDBOX_TASK_DEFINITION``), which a change of the image, the command or
        the roles replaces with a new one."""
        return {"sandbox": self.task_definition.task_definition_arn}

    def stop_environment(self) -> dict[str, str]:
        """What a function needs to stop sandbox tasks (the cluster they run on)."""
        return {"FIXLOOP_SANDBOX_CLUSTER": self.cluster.cluster_arn}

    def family_arn(self) -> str:
        """Every revision of the sandbox task definition (``task-definition/<family>:*``)."""
        return cdk.Stack.of(self).format_arn(
            service="ecs",
            resource="task-definition",
            resource_name=f"{SANDBOX_FAMILY}:*",
            arn_format=cdk.ArnFormat.SLASH_RESOURCE_NAME,
        )

    def grant_dispatch(self, role: iam.Role) -> None:
        """Run the sandbox task definition on this cluster, watch and stop its tasks."""
        stack = cdk.Stack.of(self)
        on_cluster = {"ArnEquals": {"ecs:cluster": self.cluster.cluster_arn}}
        # Any revision of the family, not only the newest: a role has no versions, and a
        # published Dispatch Tool version that an execution still runs names the revision of
        # its deployment (retained, see above), which it must still be able to run.
        family = self.family_arn()
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["ecs:RunTask"], resources=[family], conditions=on_cluster)
        )
        acknowledge(
            role,
            iam5_resource(flatten(family, stack)),
            "RunTask on the revisions of the fixloop-sandbox task definition family, on the "
            "sandbox cluster only: each published Dispatch Tool version names the revision of "
            "its deployment, and an execution still running an older version runs that one.",
        )
        tasks = self._tasks_arn()
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["ecs:DescribeTasks", "ecs:StopTask"], resources=[tasks])
        )
        # RunTask tags the task with its investigation; tagging on create needs TagResource,
        # limited here to tags set by RunTask itself.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["ecs:TagResource"],
                resources=[tasks],
                conditions={"StringEquals": {"ecs:CreateAction": "RunTask"}},
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[self.task_role.role_arn, self.execution_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
            )
        )
        acknowledge(
            role,
            iam5_resource(flatten(tasks, stack)),
            "Task ids are assigned by ECS when a sandbox starts; access covers the tasks of "
            "the sandbox cluster only (DescribeTasks, StopTask, and tags set by RunTask).",
        )

    def grant_stop(self, role: iam.Role) -> None:
        """Stop tasks of this cluster (an investigation's sandbox when it closes), nothing
        else of ECS."""
        tasks = self._tasks_arn()
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["ecs:StopTask"], resources=[tasks])
        )
        acknowledge(
            role,
            iam5_resource(flatten(tasks, cdk.Stack.of(self))),
            "Task ids are assigned by ECS when a sandbox starts; StopTask covers the tasks of "
            "the sandbox cluster only.",
        )

    def _tasks_arn(self) -> str:
        return cdk.Stack.of(self).format_arn(
            service="ecs",
            resource="task",
            resource_name=f"{self.cluster.cluster_name}/*",
            arn_format=cdk.ArnFormat.SLASH_RESOURCE_NAME,
        )

    def _acknowledge(self) -> None:
        acknowledge(
            self.execution_role,
            iam5_resource("*"),
            "ecr:GetAuthorizationToken supports no resource-level permissions. With the "
            "image built from sandbox/Dockerfile, its layers are readable from the bootstrap "
            "asset repository only; with an image URI given at deploy time (the Marketplace "
            "listing's registry, another account's or this one's), the repository is not "
            "known at synth, so the pull-only actions (BatchGetImage, GetDownloadUrlForLayer, "
            "BatchCheckLayerAvailability) name no repository.",
        )
        acknowledge(
            self.task_definition,
            "AwsSolutions-ECS2",
            "The environment holds the region, the heartbeat and idle intervals and the "
            "Powertools service name, none of them secret; it names no table, bucket or "
            "secret: each call brings what it needs from the dispatcher.",
        )
