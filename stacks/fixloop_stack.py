"""The fixloop stack: storage, the shared layer, the loop functions, the state machine, the
sandbox (its network, cluster and task definition), the GitHub webhook and signals API, the
triggers that turn alarms and error logs into investigations, and the live surfaces (the
user pool, the WebSocket API and MCP, the live view on CloudFront)."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from fixloop.config import AFTERCARE_STATE_MACHINE_NAME, STATE_MACHINE_NAME
from fixloop.functions import Surface
from stacks.config import FixloopConfig
from stacks.constructs.auth import Auth
from stacks.constructs.egress import egress_domains
from stacks.constructs.encryption import DataKey, EncryptLogGroups
from stacks.constructs.functions import LoopFunctions
from stacks.constructs.layer import SharedLayer
from stacks.constructs.live import LiveApi
from stacks.constructs.live_view import LiveView
from stacks.constructs.loop import (
    AFTERCARE_ASL,
    STATE_MACHINE_ALIAS,
    InvestigationLoop,
    state_machine_arn,
)
from stacks.constructs.network import Network
from stacks.constructs.observability import Observability
from stacks.constructs.reconcile import Reconciliation
from stacks.constructs.sandbox import SandboxCluster
from stacks.constructs.storage import Storage
from stacks.constructs.triggers import Triggers
from stacks.constructs.webhooks import WebhookApi, channel_secrets, github_webhook_secret
from stacks.flags import apply_feature_flags
from stacks.parameters import add_parameters

__all__ = ["FixloopStack"]


class FixloopStack(cdk.Stack):
    """Everything one investigation needs to run in AWS.

    ``config`` defaults to :meth:`FixloopConfig.from_context` of this stack. ``standalone``
    makes the settings a user chooses at deploy time CloudFormation parameters instead
    (stacks/parameters.py; the AWS Marketplace template, stacks/marketplace.py).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: FixloopConfig | None = None,
        standalone: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        # Before any construct: the flags apply to whatever app builds this stack.
        apply_feature_flags(self.node)
        config = config or FixloopConfig.from_context(self.node)
        if standalone:
            # The Marketplace template: deploy-time choices are parameters.
            config = add_parameters(self, config)
        self.config = config

        self.data_key = DataKey(self, "DataKey")
        cdk.Aspects.of(self).add(EncryptLogGroups(self.data_key.key))
        self.storage = Storage(self, "Storage", key=self.data_key.key)
        self.layer = SharedLayer(self, "SharedLayer", asset_dir=config.layer_asset_dir)
        machine_arn = state_machine_arn(self, config.state_machine_name)
        alias_arn = state_machine_arn(self, config.state_machine_name, STATE_MACHINE_ALIAS)
        aftercare_name = (
            AFTERCARE_STATE_MACHINE_NAME
            if config.state_machine_name == STATE_MACHINE_NAME
            else f"{config.state_machine_name}-aftercare"
        )
        aftercare_arn = state_machine_arn(self, aftercare_name)
        self.network = Network(
            self,
            "Network",
            blobs=self.storage.blobs,
            egress_domains=egress_domains(
                self,
                blobs=self.storage.blobs,
                image_uri=config.sandbox_image_uri,
                extra=config.sandbox_egress_domains,
            ),
        )
        self.sandbox = SandboxCluster(
            self,
            "Sandbox",
            network=self.network,
            state_machine_arn=machine_arn,
            image_uri=config.sandbox_image_uri,
        )

        anthropic_secret = self._secret("AnthropicSecret", config.anthropic_secret_name)
        github_secret = self._secret("GitHubSecret", config.github_secret_name)
        self.github_webhook_secret = github_webhook_secret(
            self, "GitHubWebhookSecret", key=self.data_key.key
        )
        self.channel_secrets = channel_secrets(self, key=self.data_key.key)
        self.functions = LoopFunctions(
            self,
            "Functions",
            storage=self.storage,
            layer=self.layer.layer,
            model=config.model,
            state_machine_arn=machine_arn,
            start_arn=alias_arn,
            aftercare_arn=aftercare_arn,
            aftercare_start_arn=state_machine_arn(self, aftercare_name, STATE_MACHINE_ALIAS),
            sandbox=self.sandbox,
            anthropic_secret=anthropic_secret,
            github_secret=github_secret,
            github_webhook_secret=self.github_webhook_secret,
            targets=config.targets_json,
            default_github_repo=config.default_github_repo,
            channel_secrets=self.channel_secrets,
            slack_channel=config.slack_channel,
            linear_team_id=config.linear_team_id,
            human_timeout_seconds=config.human_timeout_seconds,
            require_approval=config.require_approval,
            unverified_pull_requests=config.unverified_pull_requests,
            verify_attempts=config.verify_attempts,
            people=config.people,
        )
        self.loop = InvestigationLoop(
            self,
            "Loop",
            functions=self._steps(Surface.LOOP),
            state_machine_name=config.state_machine_name,
        )
        self.aftercare = InvestigationLoop(
            self,
            "Aftercare",
            functions=self._steps(Surface.AFTERCARE),
            state_machine_name=aftercare_name,
            definition_file=AFTERCARE_ASL,
            continues_as_new=False,
            description="fixloop aftercare of merged fixes, published by the CDK deployment",
        )
        """The state machine that follows a merged fix to production (fixloop.aftercare)."""
        self.webhooks = WebhookApi(
            self,
            "Webhooks",
            github_webhook=self.functions.functions["github_webhook"],
            api_trigger=self.functions.functions["api_trigger"],
            slack_events=self.functions.functions["slack_events"],
            linear_webhook=self.functions.functions["linear_webhook"],
            investigations_api=self.functions.functions["investigations_api"],
        )
        self.triggers = Triggers(
            self,
            "Triggers",
            signal_trigger=self.functions.functions["signal_trigger"],
            alarm_prefixes=config.alarm_prefixes,
            watched_log_groups=config.watched_log_groups,
        )

        self.reconciliation = Reconciliation(
            self,
            "Reconciliation",
            reconcile=self.functions.functions["reconcile"],
            state_machine_arn=machine_arn,
        )
        self.auth = Auth(self, "Auth", domain_prefix=config.cognito_domain_prefix)
        """The Cognito user pool and web client of the live view, WebSocket and MCP."""
        self.live = LiveApi(
            self,
            "Live",
            storage=self.storage,
            layer=self.layer.layer,
            state_machine_arn=machine_arn,
            cognito_user_pool_id=self.auth.user_pool.user_pool_id,
            cognito_client_id=self.auth.client.user_pool_client_id,
        )
        self.live_view = LiveView(
            self, "LiveView", auth=self.auth, live=self.live, rest_api=self.webhooks.api
        )
        """web/ on CloudFront; the web client signs in on the hosted UI and returns there."""
        self.observability = Observability(
            self,
            "Observability",
            key=self.data_key.key,
            state_machine=self.loop.state_machine,
            functions=self.functions.functions,
            dead_letters=self.triggers.alarm_dead_letters,
            failure_queues={
                **{
                    f"failed-{folder.replace('_', '-')}": queue
                    for folder, queue in self.functions.failure_queues.items()
                },
                "failed-stream-fanout": self.live.fanout_failures,
                "undelivered-execution-events": self.reconciliation.dead_letters,
            },
            alarm_email=config.alarm_email,
            daily_token_budget=config.daily_token_budget,
        )

        outputs = {
            "UserPoolId": self.auth.user_pool.user_pool_id,
            "UserPoolClientId": self.auth.client.user_pool_client_id,
            "DataKeyArn": self.data_key.key.key_arn,
            "StateMachineArn": self.loop.state_machine.state_machine_arn,
            "StateMachineAliasArn": self.loop.alias.ref,
            "AftercareStateMachineArn": self.aftercare.state_machine.state_machine_arn,
            "EventsTableName": self.storage.events.table_name,
            "InvestigationsTableName": self.storage.investigations.table_name,
            "BlobsBucketName": self.storage.blobs.bucket_name,
            "SandboxesTableName": self.storage.sandboxes.table_name,
            "SandboxClusterName": self.sandbox.cluster.cluster_name,
            "SandboxTaskDefinitionArn": self.sandbox.task_definition.task_definition_arn,
            # what an AWS Network Firewall's resolved IP validation names (docs/deploying.md)
            "SandboxDnsFirewallRuleGroupId": self.network.dns_firewall.rule_group.attr_id,
            "GitHubWebhookUrl": self.webhooks.github_url,
            "GitHubWebhookSecretArn": self.github_webhook_secret.secret_arn,
            "SignalsUrl": self.webhooks.signals_url,
            "SlackEventsUrl": self.webhooks.slack_url,
            "LinearWebhookUrl": self.webhooks.linear_url,
            "InvestigationsUrl": self.webhooks.investigations_url,
            "InboxTableName": self.storage.inbox.table_name,
            "WaitsTableName": self.storage.waits.table_name,
            # where subscription filters deliver error lines: the signal trigger
            "LogsTriggerArn": self.functions.functions["signal_trigger"].function_arn,
            "AlarmDeadLetterQueueUrl": self.triggers.alarm_dead_letters.queue_url,
            "AlarmTopicArn": self.observability.topic.topic_arn,
            "DashboardName": self.observability.dashboard.dashboard_name,
            "LiveWebSocketUrl": self.live.websocket_url,
            "McpUrl": self.live.mcp_url,
            "LiveViewUrl": self.live_view.url,
            "UserPoolDomainUrl": self.auth.domain_url,
            "ConnectionsTableName": self.live.connections.table_name,
        }
        for name, value in outputs.items():
            cdk.CfnOutput(self, name, value=value)

    def _steps(self, surface: Surface) -> dict[str, lambda_.IVersion]:
        """ASL placeholder -> the published version of each step of ``surface``."""
        return {
            spec.asl_placeholder: self.functions.versions[spec.folder]
            for spec in self.functions.specs
            if spec.surface is surface and spec.asl_placeholder is not None
        }

    def _secret(self, construct_id: str, name: str | None) -> secretsmanager.ISecret | None:
        """The existing secret called ``name`` (created by the operator), if one is named."""
        if not name:
            return None
        return secretsmanager.Secret.from_secret_name_v2(self, construct_id, name)

    @property
    def availability_zones(self) -> list[str]:
        """The first two AZs of the deployment region, resolved by CloudFormation.

        Overrides CDK's lookup: with an explicit account and region, ``Stack`` would ask the
        account for its AZs at synth (a context lookup, so AWS credentials and network);
        ``Fn::GetAZs`` keeps synthesis offline and the template region-independent.
        """
        azs = cdk.Fn.get_azs()
        return [cdk.Fn.select(0, azs), cdk.Fn.select(1, azs)]
