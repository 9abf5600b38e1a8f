"""GitHub webhooks in AWS: the signing secret and the REST API ``fixloop-webhooks``.

GitHub POSTs each delivery to ``<stage URL>webhooks/github``, a Lambda proxy integration of the
``github_webhook`` function. The method has no authorizer: GitHub cannot present AWS
credentials or tokens, it signs every delivery instead (``X-Hub-Signature-256``, an
HMAC-SHA256 of the raw body with the shared secret), and the function verifies that signature
before it reads anything (fixloop/channels/github.py). The secret is generated here; the user
pastes its value into the webhook settings on GitHub.

The same API takes signals from authenticated callers: ``POST <stage URL>signals``, a Lambda
proxy integration of the ``api_trigger`` function, with IAM authorization (``AWS_IAM``): the
caller signs the request with SigV4 and needs ``execute-api:Invoke`` on that method.
"""

from __future__ import annotations

from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from stacks.constructs.grants import ChannelSecrets
from stacks.nag import acknowledge, iam4_managed_policy

__all__ = [
    "ACCESS_LOG_FIELDS",
    "CHANNEL_SECRET_NAMES",
    "INVESTIGATIONS_PATH",
    "LINEAR_PATH",
    "SIGNALS_PATH",
    "SIGNALS_THROTTLE_BURST",
    "SIGNALS_THROTTLE_RATE",
    "SLACK_PATH",
    "STATS_PATH",
    "WEBHOOK_API_NAME",
    "WEBHOOK_PATH",
    "WEBHOOK_SECRET_LENGTH",
    "WEBHOOK_SECRET_NAME",
    "WEBHOOK_STAGE",
    "WEBHOOK_THROTTLE_BURST",
    "WEBHOOK_THROTTLE_RATE",
    "WebhookApi",
    "access_log_format",
    "channel_secrets",
    "github_webhook_secret",
]

WEBHOOK_SECRET_NAME = "fixloop/github-webhook"
WEBHOOK_SECRET_LENGTH = 40
WEBHOOK_API_NAME = "fixloop-webhooks"
WEBHOOK_PATH = "webhooks/github"
SIGNALS_PATH = "signals"
SLACK_PATH = "webhooks/slack"
LINEAR_PATH = "webhooks/linear"
INVESTIGATIONS_PATH = "investigations"
STATS_PATH = "stats"
CHANNEL_SECRET_NAMES: dict[str, tuple[str, str]] = {
    "slack_signing_secret": (
        "fixloop/slack-signing-secret",
        "Slack app signing secret (Basic Information > App Credentials); verifies "
        "X-Slack-Signature of Events API requests",
    ),
    "slack_bot_token": (
        "fixloop/slack-bot-token",
        "Slack bot token (xoxb-..., OAuth & Permissions; scope chat:write) for posting to "
        "investigation threads",
    ),
    "linear_webhook_secret": (
        "fixloop/linear-webhook-secret",
        "Linear webhook signing secret; verifies Linear-Signature of webhook deliveries",
    ),
    "linear_api_key": (
        "fixloop/linear-api-key",
        "Linear API key for creating issues and comments (GraphQL)",
    ),
}
"""Secrets whose values come from Slack and Linear: created with a random placeholder, to be
replaced by the value the service shows (``aws secretsmanager put-secret-value``)."""
WEBHOOK_STAGE = "v1"
WEBHOOK_THROTTLE_RATE = 50
"""Steady requests per second across the stage; GitHub sends one request per delivery."""
WEBHOOK_THROTTLE_BURST = 100
SIGNALS_THROTTLE_RATE = 10
"""Per-method limit of ``POST /signals``: each accepted signal may start an investigation
(model tokens and a sandbox), so a runaway script is stopped at the door."""
SIGNALS_THROTTLE_BURST = 20

ACCESS_LOG_FIELDS: dict[str, str] = {
    "requestId": apigw.AccessLogField.context_request_id(),
    "ip": apigw.AccessLogField.context_identity_source_ip(),
    "userAgent": apigw.AccessLogField.context_identity_user_agent(),
    "requestTime": apigw.AccessLogField.context_request_time(),
    "httpMethod": apigw.AccessLogField.context_http_method(),
    "resourcePath": apigw.AccessLogField.context_resource_path(),
    "protocol": apigw.AccessLogField.context_protocol(),
    "status": apigw.AccessLogField.context_status(),
    "responseLength": apigw.AccessLogField.context_response_length(),
    "responseLatency": apigw.AccessLogField.context_response_latency(),
    "integrationStatus": apigw.AccessLogField.context_integration_status(),
    "integrationLatency": apigw.AccessLogField.context_integration_latency(),
    "xrayTraceId": apigw.AccessLogField.context_xray_trace_id(),
    # Already a quoted JSON string ("$context.error.message" with its quotes escaped).
    "error": apigw.AccessLogField.context_error_message_string(),
}
"""One JSON object per request. Every value is quoted (numbers too, as in CDK's standard
JSON format: API Gateway prints ``-`` for a value it does not have, e.g. the integration
latency of a throttled request), except ``error``, which API Gateway quotes itself."""
_PRE_QUOTED = {"error"}


def access_log_format() -> apigw.AccessLogFormat:
    """The stage's access log format: :data:`ACCESS_LOG_FIELDS` as one JSON object a line."""
    members = (
        f'"{name}":{value}' if name in _PRE_QUOTED else f'"{name}":"{value}"'
        for name, value in ACCESS_LOG_FIELDS.items()
    )
    return apigw.AccessLogFormat.custom("{" + ",".join(members) + "}")


def github_webhook_secret(
    scope: Construct, construct_id: str, *, key: kms.IKey | None = None
) -> secretsmanager.Secret:
    """The secret GitHub signs deliveries with: 40 random letters and digits, generated at
    deploy time (never in the template), to be pasted into GitHub's webhook settings."""
    secret = secretsmanager.Secret(
        scope,
        construct_id,
        secret_name=WEBHOOK_SECRET_NAME,
        encryption_key=key,
        description=(
            "fixloop: GitHub webhook secret (paste the value into the repository's webhook "
            "settings; X-Hub-Signature-256 is verified with it)"
        ),
        generate_secret_string=secretsmanager.SecretStringGenerator(
            password_length=WEBHOOK_SECRET_LENGTH,
            exclude_punctuation=True,
            include_space=False,
        ),
    )
    acknowledge(
        secret,
        "AwsSolutions-SMG4",
        "The value is shared with GitHub, where a person pastes it into the webhook settings; "
        "an automatic rotation would make every delivery fail signature verification until "
        "someone pastes the new value. Rotate by hand: put a new value, then update GitHub.",
    )
    return secret


def channel_secrets(scope: Construct, *, key: kms.IKey | None = None) -> ChannelSecrets:
    """The Slack and Linear credentials, each a secret (encrypted with ``key``) holding a
    placeholder until the user puts the value Slack or Linear issued (a wrong placeholder
    fails verification: 401)."""
    made: dict[str, secretsmanager.ISecret] = {}
    for field, (name, description) in CHANNEL_SECRET_NAMES.items():
        secret = secretsmanager.Secret(
            scope,
            "".join(part.capitalize() for part in field.split("_")),
            secret_name=name,
            description=f"fixloop: {description}",
            encryption_key=key,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=40, exclude_punctuation=True, include_space=False
            ),
        )
        acknowledge(
            secret,
            "AwsSolutions-SMG4",
            "The value is issued by Slack or Linear, not by AWS: a rotation Lambda cannot "
            "mint a new one. Rotate in Slack or Linear, then put the new value here.",
        )
        made[field] = secret
    return ChannelSecrets(**made)


class WebhookApi(Construct):
    """The REST API ``fixloop-webhooks``: ``POST /webhooks/github`` proxied to ``github_webhook``
    and ``POST /signals`` (IAM-authorized) proxied to ``api_trigger``.

    Stage ``v1``: JSON access logs and ERROR execution logs (both kept a month), throttled,
    traced and with detailed metrics. Execution logging needs the account-level CloudWatch
    role of API Gateway, which this API creates (``cloudWatchRole``; CDK retains it).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        github_webhook: lambda_.IFunction,
        api_trigger: lambda_.IFunction,
        slack_events: lambda_.IFunction | None = None,
        linear_webhook: lambda_.IFunction | None = None,
        investigations_api: lambda_.IFunction | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = logs.LogGroup(self, "AccessLogs", retention=logs.RetentionDays.ONE_MONTH)
        self.api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=WEBHOOK_API_NAME,
            description=(
                "fixloop: webhooks from GitHub (pull request reviews, merges, closes) and "
                "signals from IAM-authenticated callers"
            ),
            # GitHub (and signal senders) call from their own networks: CloudFront (EDGE)
            # would add nothing.
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=True,
            deploy_options=apigw.StageOptions(
                stage_name=WEBHOOK_STAGE,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=access_log_format(),
                throttling_rate_limit=WEBHOOK_THROTTLE_RATE,
                throttling_burst_limit=WEBHOOK_THROTTLE_BURST,
                # Method-level limits on top of the stage's ("/*/*" above).
                method_options={
                    f"/{WEBHOOK_PATH}/POST": apigw.MethodDeploymentOptions(
                        throttling_rate_limit=WEBHOOK_THROTTLE_RATE,
                        throttling_burst_limit=WEBHOOK_THROTTLE_BURST,
                    ),
                    f"/{SIGNALS_PATH}/POST": apigw.MethodDeploymentOptions(
                        throttling_rate_limit=SIGNALS_THROTTLE_RATE,
                        throttling_burst_limit=SIGNALS_THROTTLE_BURST,
                    ),
                },
                tracing_enabled=True,
                metrics_enabled=True,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                # Full request/response logging would write webhook payloads to the logs.
                data_trace_enabled=False,
            ),
        )
        # API Gateway writes execution logs to this group, creating it (never expiring)
        # unless it exists: create it first, with a retention.
        self.execution_logs = logs.LogGroup(
            self,
            "ExecutionLogs",
            log_group_name=f"API-Gateway-Execution-Logs_{self.api.rest_api_id}/{WEBHOOK_STAGE}",
            retention=logs.RetentionDays.ONE_MONTH,
        )
        self.api.deployment_stage.node.add_dependency(self.execution_logs)

        github = self.api.root.add_resource("webhooks").add_resource("github")
        self.github_method = github.add_method(
            "POST",
            # Proxy: the body reaches the function exactly as GitHub sent it. No test-invoke
            # permission: only the deployed stage may invoke the function.
            apigw.LambdaIntegration(github_webhook, proxy=True, allow_test_invoke=False),
            authorization_type=apigw.AuthorizationType.NONE,
        )
        self.github_url = self.api.url + WEBHOOK_PATH
        """The URL to enter as the webhook's Payload URL on GitHub."""

        self.signals_method = self.api.root.add_resource(SIGNALS_PATH).add_method(
            "POST",
            apigw.LambdaIntegration(api_trigger, proxy=True, allow_test_invoke=False),
            # SigV4-signed requests only: API Gateway checks the caller's IAM permission
            # (execute-api:Invoke on this method) before the function is invoked.
            authorization_type=apigw.AuthorizationType.IAM,
        )
        self.signals_url = self.api.url + SIGNALS_PATH
        """Where authenticated callers POST signals."""

        self.channel_methods: list[apigw.Method] = []
        """Slack and Linear webhooks: signed by the sender, verified by the function."""
        webhooks = github.parent_resource
        assert webhooks is not None
        for path, fn in (("slack", slack_events), ("linear", linear_webhook)):
            if fn is not None:
                self.channel_methods.append(
                    webhooks.add_resource(path).add_method(
                        "POST",
                        apigw.LambdaIntegration(fn, proxy=True, allow_test_invoke=False),
                        authorization_type=apigw.AuthorizationType.NONE,
                    )
                )
        self.slack_url = self.api.url + SLACK_PATH
        self.linear_url = self.api.url + LINEAR_PATH

        self.investigation_methods: list[apigw.Method] = []
        """GET an investigation, POST a message to it, GET the outcomes counted (/stats):
        IAM-authorized."""
        if investigations_api is not None:
            integration = apigw.LambdaIntegration(
                investigations_api, proxy=True, allow_test_invoke=False
            )
            one = self.api.root.add_resource(INVESTIGATIONS_PATH).add_resource("{investigation_id}")
            self.investigation_methods = [
                one.add_method("GET", integration, authorization_type=apigw.AuthorizationType.IAM),
                one.add_resource("messages").add_method(
                    "POST", integration, authorization_type=apigw.AuthorizationType.IAM
                ),
                self.api.root.add_resource(STATS_PATH).add_method(
                    "GET", integration, authorization_type=apigw.AuthorizationType.IAM
                ),
            ]
        self.investigations_url = self.api.url + INVESTIGATIONS_PATH
        self._acknowledge()

    def _acknowledge(self) -> None:
        unauthenticated = (
            "GitHub webhooks cannot carry AWS credentials, tokens or Cognito logins: GitHub "
            "authenticates each delivery with an HMAC-SHA256 signature of the body "
            "(X-Hub-Signature-256) made with the shared webhook secret, and the github_webhook "
            "function verifies it in constant time before reading or changing anything; an "
            "unsigned or wrongly signed request gets 401."
        )
        acknowledge(self.github_method, "AwsSolutions-APIG4", unauthenticated)
        acknowledge(self.github_method, "AwsSolutions-COG4", unauthenticated)
        signed = (
            "Slack and Linear cannot carry AWS credentials or Cognito tokens: they sign each "
            "request with an HMAC-SHA256 of the raw body made with the shared signing secret "
            "(Slack: X-Slack-Signature over v0:timestamp:body, five-minute window; Linear: "
            "Linear-Signature, webhookTimestamp within a minute), which the function verifies "
            "in constant time before reading or storing anything; otherwise 401."
        )
        for method in self.channel_methods:
            acknowledge(method, "AwsSolutions-APIG4", signed)
            acknowledge(method, "AwsSolutions-COG4", signed)
        for method in self.investigation_methods:
            acknowledge(
                method,
                "AwsSolutions-COG4",
                "The investigations API uses IAM authorization (AWS_IAM): SigV4-signed "
                "requests of principals with execute-api:Invoke on the method (operators, "
                "the CLI, other services). The web view's Cognito users arrive with the "
                "Cognito authorizer of the user-facing routes (another issue).",
            )
        acknowledge(
            self.signals_method,
            "AwsSolutions-COG4",
            "POST /signals is for AWS principals (scripts, pipelines, other services of the "
            "account), not end users: it uses IAM authorization (AWS_IAM), so every request "
            "is SigV4-signed and API Gateway checks the caller's execute-api:Invoke "
            "permission on this method; a Cognito user pool would add a second identity "
            "store for the same callers.",
        )
        acknowledge(
            self.api,
            "AwsSolutions-APIG2",
            "The body must reach the function byte for byte: the signature check is an HMAC of "
            "the exact bytes GitHub sent, and the function validates the payload after "
            "verifying it. A request validator could only check the body against a model, "
            "which GitHub's many event payloads do not fit. POST /signals accepts several "
            "signal shapes (alarm events, log deliveries, plain signals); api_trigger parses "
            "and validates each and answers 400 with the reason.",
        )
        acknowledge(
            self.api.deployment_stage,
            "AwsSolutions-APIG3",
            "No WAF web ACL on these two endpoints: webhook requests are authenticated by "
            "GitHub's HMAC signature, which the function checks before any work (an invalid "
            "one costs one short invocation and gets 401), signals by IAM (SigV4), which API "
            "Gateway checks before invoking anything, and the stage throttles at "
            f"{WEBHOOK_THROTTLE_RATE} requests/s (burst {WEBHOOK_THROTTLE_BURST}). An IP "
            "allow-list of GitHub's hook ranges would need tracking api.github.com/meta.",
        )
        role = self.api.node.try_find_child("CloudWatchRole")
        if role is not None:
            acknowledge(
                role,
                iam4_managed_policy("service-role/AmazonAPIGatewayPushToCloudWatchLogs"),
                "AmazonAPIGatewayPushToCloudWatchLogs is the AWS-maintained policy for the "
                "account-level role API Gateway writes execution logs with (CloudWatch "
                "logging of the stage); only apigateway.amazonaws.com can assume the role.",
            )
