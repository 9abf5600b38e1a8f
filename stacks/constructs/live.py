"""Live surfaces in AWS: the WebSocket API, the Events stream fan-out, and MCP over HTTP.

- ``Connections`` table: connections and their subscriptions, listed both by connection and
  by investigation (fixloop/live/connections.py); every item expires (TTL ``expires_at``), so
  it may be destroyed with the stack.
- WebSocket API ``fixloop-live`` (stage ``live``): ``$connect`` behind a REQUEST authorizer on
  the ``token`` query parameter (function ``websocket_authorizer``); ``$connect``,
  ``$disconnect``, ``subscribe``, ``send``, ``list`` and ``$default`` go to the ``websocket``
  function, which answers through the Management API.
- ``stream_fanout`` on the Events table's stream (NEW_IMAGE): batches of up to 100 records,
  partial batch failures reported, a record retried at most 5 times, then recorded in an SQS
  queue (on-failure destination, alarmed) instead of skipped; it posts each event to the
  subscribed connections.
- MCP: the ``mcp`` function (Mangum) behind the HTTP API ``fixloop-mcp`` at ``/mcp``; the app
  checks the bearer token itself with the same verifier as ``$connect``.

Tokens are Cognito JWTs (``FIXLOOP_LIVE_AUTH=cognito``) of the stack's user pool and app
client (stacks/constructs/auth.py, passed in by the stack); without them
every connection is refused.
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from constructs import Construct

from fixloop.functions import CATALOGUE, Surface
from stacks.constructs.failures import failure_queue
from stacks.constructs.functions import FUNCTIONS_DIR, lambda_function
from stacks.constructs.grants import Reach, grant
from stacks.constructs.storage import Storage
from stacks.nag import acknowledge, acknowledge_key_grants, flatten, iam5_resource

__all__ = ["LIVE_API_NAME", "LIVE_STAGE", "MCP_API_NAME", "LiveApi"]

LIVE_API_NAME = "fixloop-live"
LIVE_STAGE = "live"
MCP_API_NAME = "fixloop-mcp"
WEBSOCKET_ROUTES = ("subscribe", "send", "list", "$default")
STREAM_BATCH_SIZE = 100
STREAM_RETRIES = 5


class LiveApi(Construct):
    """The live functions of the catalogue (what they may touch from their entries, plus the
    Connections table and the Management API for those with ``connections``) and their APIs."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        storage: Storage,
        layer: lambda_.ILayerVersion,
        state_machine_arn: str,
        cognito_user_pool_id: str = "",
        cognito_client_id: str = "",
        functions_dir: Path = FUNCTIONS_DIR,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        specs = [spec for spec in CATALOGUE if spec.surface is Surface.LIVE]

        self.connections = dynamodb.Table(
            self,
            "Connections",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=storage.key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute="expires_at",
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        env = {
            "FIXLOOP_EVENTS_TABLE": storage.events.table_name,
            "FIXLOOP_INVESTIGATIONS_TABLE": storage.investigations.table_name,
            "FIXLOOP_BLOBS_BUCKET": storage.blobs.bucket_name,
            "FIXLOOP_CONNECTIONS_TABLE": self.connections.table_name,
            "FIXLOOP_INBOX_TABLE": storage.inbox.table_name,
            "FIXLOOP_WAITS_TABLE": storage.waits.table_name,
            "FIXLOOP_STATE_MACHINE_ARN": state_machine_arn,
            "FIXLOOP_LIVE_AUTH": "cognito",
            "FIXLOOP_COGNITO_USER_POOL_ID": cognito_user_pool_id,
            "FIXLOOP_COGNITO_CLIENT_ID": cognito_client_id,
            "POWERTOOLS_SERVICE_NAME": "fixloop",
            "LOG_LEVEL": "INFO",
        }
        reach = Reach(storage=storage, state_machine_arn=state_machine_arn)
        self.functions: dict[str, lambda_.Function] = {}
        for spec in specs:
            fn, role = lambda_function(
                self, spec, layer=layer, env=dict(env), functions_dir=functions_dir
            )
            grant(self, spec, role, fn, reach)
            self.functions[spec.folder] = fn
        self.authorizer_fn = self.functions["websocket_authorizer"]
        self.websocket_fn = self.functions["websocket"]
        self.fanout_fn = self.functions["stream_fanout"]
        self.mcp_fn = self.functions["mcp"]

        self.api = apigwv2.WebSocketApi(
            self,
            "WebSocketApi",
            api_name=LIVE_API_NAME,
            description="fixloop: follow investigations live and talk to them",
            route_selection_expression="$request.body.action",
            connect_route_options=apigwv2.WebSocketRouteOptions(
                integration=integrations.WebSocketLambdaIntegration("Connect", self.websocket_fn),
                authorizer=authorizers.WebSocketLambdaAuthorizer(
                    "TokenAuthorizer",
                    self.authorizer_fn,
                    identity_source=["route.request.querystring.token"],
                ),
            ),
            disconnect_route_options=apigwv2.WebSocketRouteOptions(
                integration=integrations.WebSocketLambdaIntegration("Disconnect", self.websocket_fn)
            ),
        )
        for route in WEBSOCKET_ROUTES:
            self.api.add_route(
                route,
                integration=integrations.WebSocketLambdaIntegration(
                    f"{route.strip('$').title()}Route", self.websocket_fn
                ),
            )
        self.stage = apigwv2.WebSocketStage(
            self,
            "Stage",
            web_socket_api=self.api,
            stage_name=LIVE_STAGE,
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(rate_limit=100, burst_limit=200),
        )
        management_url = self.stage.callback_url
        for spec in specs:
            if spec.connections:
                fn = self.functions[spec.folder]
                fn.add_environment("FIXLOOP_WEBSOCKET_MANAGEMENT_URL", management_url)
                self.stage.grant_management_api_access(fn)
                self.connections.grant_read_write_data(fn)
        acknowledge(
            self.stage,
            "AwsSolutions-APIG1",
            "WebSocket stage access logging needs the account-level API Gateway CloudWatch "
            "role; every route is a Lambda whose own logs record the connection and route.",
        )

        acknowledge_key_grants(self)
        acknowledge(
            self,
            iam5_resource(
                flatten(
                    stack.format_arn(
                        service="execute-api",
                        resource=self.api.api_id,
                        resource_name=f"{LIVE_STAGE}/*/@connections/*",
                    ),
                    stack,
                )
            ),
            "Posting to WebSocket connections (execute-api:ManageConnections) of this API's "
            "stage only; connection ids exist only at run time.",
        )
        acknowledge(
            self.api,
            "AwsSolutions-APIG4",
            "API Gateway authorizes a WebSocket connection once, on $connect (the token "
            "authorizer); the other routes run on that authenticated connection.",
        )

        self.fanout_failures = failure_queue(self, "StreamFanoutFailures", key=storage.key)
        """Where the stream fan-out records the batches it gave up on (shard, sequence
        numbers: the records themselves stay in the stream for 24 hours)."""
        self.fanout_fn.add_event_source(
            sources.DynamoEventSource(
                storage.events,
                starting_position=lambda_.StartingPosition.LATEST,
                batch_size=STREAM_BATCH_SIZE,
                max_batching_window=cdk.Duration.seconds(0),
                retry_attempts=STREAM_RETRIES,
                report_batch_item_failures=True,
                parallelization_factor=1,  # one batch per shard at a time: events in order
                # A batch still failing after its retries is recorded there, not skipped.
                on_failure=sources.SqsDlq(self.fanout_failures),
            )
        )

        self.mcp_api = apigwv2.HttpApi(
            self,
            "McpApi",
            api_name=MCP_API_NAME,
            description="fixloop: MCP (streamable HTTP); the bearer token is checked by the app",
        )
        mcp_integration = integrations.HttpLambdaIntegration("Mcp", self.mcp_fn)
        for path in ("/mcp", "/mcp/{proxy+}"):
            self.mcp_api.add_routes(
                path=path,
                methods=[
                    apigwv2.HttpMethod.POST,
                    apigwv2.HttpMethod.GET,
                    apigwv2.HttpMethod.DELETE,
                ],
                integration=mcp_integration,
            )
        acknowledge(
            self.mcp_api,
            "AwsSolutions-APIG4",
            "The MCP app authenticates every request itself (a Cognito JWT as bearer token, "
            "fixloop/live/mcp_server.py), as MCP clients expect of a streamable HTTP server.",
        )
        acknowledge(
            self.mcp_api,
            "AwsSolutions-APIG1",
            "Access logging of the default stage needs the account-level API Gateway "
            "CloudWatch role; the function's own logs record each request.",
        )

        self.websocket_url = self.stage.url
        self.mcp_url = f"{self.mcp_api.api_endpoint}/mcp"
