"""The fixloop stack: storage, the shared layer, the loop functions, the state machine, the
sandbox (its network, cluster and task definition), the GitHub webhook and signals API, and the
triggers that turn alarms and error logs into investigations."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from stacks.config import FixloopConfig
from stacks.constructs.functions import LoopFunctions
from stacks.constructs.layer import SharedLayer
from stacks.constructs.live import LiveApi
from stacks.constructs.loop import InvestigationLoop, state_machine_arn
from stacks.constructs.network import Network
from stacks.constructs.sandbox import SandboxCluster
from stacks.constructs.storage import Storage
from stacks.constructs.triggers import Triggers
from stacks.constructs.webhooks import WebhookApi, github_webhook_secret

__all__ = ["FixloopStack"]


class FixloopStack(cdk.Stack):
    """Everything one investigation needs to run in AWS.

    ``config`` defaults to :meth:`FixloopConfig.from_context` of this stack.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: FixloopConfig | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        config = config or FixloopConfig.from_context(self.node)
        self.config = config

        self.storage = Storage(self, "Storage")
        self.layer = SharedLayer(self, "SharedLayer", asset_dir=config.layer_asset_dir)
        machine_arn = state_machine_arn(self, config.state_machine_name)
        self.network = Network(self, "Network")
        self.sandbox = SandboxCluster(
            self,
            "Sandbox",
            network=self.network,
            storage=self.storage,
            state_machine_arn=machine_arn,
        )

        anthropic_secret = (
            secretsmanager.Secret.from_secret_name_v2(
                self, "AnthropicSecret", config.anthropic_secret_name
            )
            if config.anthropic_secret_name
            else None
        )
        self.github_webhook_secret = github_webhook_secret(self, "GitHubWebhookSecret")
        self.functions = LoopFunctions(
            self,
            "Functions",
            storage=self.storage,
            layer=self.layer.layer,
            model=config.model,
            state_machine_arn=machine_arn,
            sandbox=self.sandbox,
            anthropic_secret=anthropic_secret,
            github_webhook_secret=self.github_webhook_secret,
            targets=config.targets_json,
            default_github_repo=config.default_github_repo,
        )
        self.loop = InvestigationLoop(
            self,
            "Loop",
            functions={
                f"{spec.construct_id}FunctionArn": self.functions.functions[spec.name]
                for spec in self.functions.specs
                if spec.loop_step
            },
            state_machine_name=config.state_machine_name,
        )
        self.webhooks = WebhookApi(
            self,
            "Webhooks",
            github_webhook=self.functions.functions["github_webhook"],
            api_trigger=self.functions.functions["api_trigger"],
        )
        self.triggers = Triggers(
            self,
            "Triggers",
            alarm_trigger=self.functions.functions["alarm_trigger"],
            logs_trigger=self.functions.functions["logs_trigger"],
            alarm_prefixes=config.alarm_prefixes,
            watched_log_groups=config.watched_log_groups,
        )

        self.live = LiveApi(
            self,
            "Live",
            storage=self.storage,
            layer=self.layer.layer,
            state_machine_arn=machine_arn,
            cognito_user_pool_id=config.cognito_user_pool_id,
            cognito_client_id=config.cognito_client_id,
        )

        outputs = {
            "StateMachineArn": self.loop.state_machine.state_machine_arn,
            "EventsTableName": self.storage.events.table_name,
            "InvestigationsTableName": self.storage.investigations.table_name,
            "BlobsBucketName": self.storage.blobs.bucket_name,
            "SandboxesTableName": self.storage.sandboxes.table_name,
            "SandboxClusterName": self.sandbox.cluster.cluster_name,
            "SandboxTaskDefinitionArn": self.sandbox.task_definition.task_definition_arn,
            "GitHubWebhookUrl": self.webhooks.github_url,
            "GitHubWebhookSecretArn": self.github_webhook_secret.secret_arn,
            "SignalsUrl": self.webhooks.signals_url,
            "LogsTriggerArn": self.functions.functions["logs_trigger"].function_arn,
            "AlarmDeadLetterQueueUrl": self.triggers.alarm_dead_letters.queue_url,
            "LiveWebSocketUrl": self.live.websocket_url,
            "McpUrl": self.live.mcp_url,
            "ConnectionsTableName": self.live.connections.table_name,
        }
        for name, value in outputs.items():
            cdk.CfnOutput(self, name, value=value)

    @property
    def availability_zones(self) -> list[str]:
        """The first two AZs of the deployment region, resolved by CloudFormation.

        Overrides CDK's lookup: with an explicit account and region, ``Stack`` would ask the
        account for its AZs at synth (a context lookup, so AWS credentials and network);
        ``Fn::GetAZs`` keeps synthesis offline and the template region-independent.
        """
        azs = cdk.Fn.get_azs()
        return [cdk.Fn.select(0, azs), cdk.Fn.select(1, azs)]
