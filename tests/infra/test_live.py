"""The live surfaces (stacks/constructs/live.py): WebSocket API, stream fan-out, Connections,
MCP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk.assertions import Match, Template

from tests.infra.support import resources

# template and template_json: the app synthesized once per test process (conftest.py)


def _function(t: dict[str, Any], folder: str) -> tuple[str, dict[str, Any]]:
    for key, res in resources(t, "AWS::Lambda::Function").items():
        if res["Properties"].get("Description") == f"fixloop live: {folder}":
            return key, res
    raise AssertionError(f"no function {folder}")


def _policy_statements(t: dict[str, Any], fn: dict[str, Any]) -> list[dict[str, Any]]:
    role = fn["Properties"]["Role"]["Fn::GetAtt"][0]
    out: list[dict[str, Any]] = []
    for res in resources(t, "AWS::IAM::Policy").values():
        if {"Ref": role} in res["Properties"]["Roles"]:
            out.extend(res["Properties"]["PolicyDocument"]["Statement"])
    return out


def _actions(statements: list[dict[str, Any]]) -> set[str]:
    found: set[str] = set()
    for s in statements:
        a = s["Action"]
        found.update([a] if isinstance(a, str) else a)
    return found


def test_events_table_streams_new_images(template: Template) -> None:
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            "StreamSpecification": {"StreamViewType": "NEW_IMAGE"},
        },
    )


def test_connections_table_is_ephemeral_with_a_ttl(template: Template) -> None:
    template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "Properties": {
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
                "SSESpecification": {"SSEEnabled": True},
                "StreamSpecification": Match.absent(),
            },
            "DeletionPolicy": "Delete",
        },
    )


def test_websocket_api_routes_and_token_authorizer_on_connect(
    template: Template, template_json: dict[str, Any]
) -> None:
    template.has_resource_properties(
        "AWS::ApiGatewayV2::Api",
        {"ProtocolType": "WEBSOCKET", "RouteSelectionExpression": "$request.body.action"},
    )
    routes = {
        r["Properties"]["RouteKey"]: r["Properties"]
        for r in resources(template_json, "AWS::ApiGatewayV2::Route").values()
    }
    assert {"$connect", "$disconnect", "$default", "subscribe", "send", "list"} <= set(routes)
    assert routes["$connect"]["AuthorizationType"] == "CUSTOM"
    template.has_resource_properties(
        "AWS::ApiGatewayV2::Authorizer",
        {"AuthorizerType": "REQUEST", "IdentitySource": ["route.request.querystring.token"]},
    )
    template.has_resource_properties(
        "AWS::ApiGatewayV2::Stage",
        {"StageName": "live", "AutoDeploy": True, "DefaultRouteSettings": Match.any_value()},
    )


def test_fanout_reads_the_events_stream_with_partial_batch_failures(
    template: Template, template_json: dict[str, Any]
) -> None:
    fanout_id, fanout = _function(template_json, "stream_fanout")
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "FunctionName": {"Ref": fanout_id},
            "EventSourceArn": {
                "Fn::GetAtt": [Match.string_like_regexp("StorageEvents"), "StreamArn"]
            },
            "StartingPosition": "LATEST",
            "BatchSize": 100,
            "MaximumRetryAttempts": 5,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "ParallelizationFactor": 1,
        },
    )
    env = fanout["Properties"]["Environment"]["Variables"]
    assert "FIXLOOP_WEBSOCKET_MANAGEMENT_URL" in env
    assert "FIXLOOP_CONNECTIONS_TABLE" in env


def test_permissions_are_what_each_function_needs(template_json: dict[str, Any]) -> None:
    _, fanout = _function(template_json, "stream_fanout")
    _, websocket = _function(template_json, "websocket")
    _, authorizer = _function(template_json, "websocket_authorizer")
    _, mcp = _function(template_json, "mcp")
    fan = _actions(_policy_statements(template_json, fanout))
    ws = _actions(_policy_statements(template_json, websocket))
    auth = _actions(_policy_statements(template_json, authorizer))
    mcp_actions = _actions(_policy_statements(template_json, mcp))
    # the fan-out reads the stream and posts to connections, and never writes the log
    assert {
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
        "execute-api:ManageConnections",
    } <= fan
    assert "dynamodb:PutItem" in fan  # on Connections only (forgetting gone connections)
    assert "execute-api:ManageConnections" in ws and "states:StartExecution" in ws
    # the authorizer reaches no data at all
    assert not {a for a in auth if a.startswith(("dynamodb:", "s3:", "execute-api:"))}
    assert "execute-api:ManageConnections" not in mcp_actions
    assert "states:StartExecution" in mcp_actions
    manage = [
        s
        for s in _policy_statements(template_json, fanout)
        if s["Action"] == "execute-api:ManageConnections"
    ]
    assert "/live/*/@connections/*" in str(manage[0]["Resource"])


def test_live_functions_use_cognito_tokens_of_the_stacks_user_pool(
    template_json: dict[str, Any],
) -> None:
    # Given the stack's one user pool and its web client
    [pool] = resources(template_json, "AWS::Cognito::UserPool")
    [client] = resources(template_json, "AWS::Cognito::UserPoolClient")
    # Then the WebSocket authorizer, routes and MCP accept only that pool's tokens for it
    for folder in ("websocket_authorizer", "mcp", "websocket"):
        env = _function(template_json, folder)[1]["Properties"]["Environment"]["Variables"]
        assert env["FIXLOOP_LIVE_AUTH"] == "cognito"
        assert env["FIXLOOP_COGNITO_USER_POOL_ID"] == {"Ref": pool}
        assert env["FIXLOOP_COGNITO_CLIENT_ID"] == {"Ref": client}


def test_mcp_behind_an_http_api(template: Template, template_json: dict[str, Any]) -> None:
    template.has_resource_properties(
        "AWS::ApiGatewayV2::Api", {"ProtocolType": "HTTP", "Name": "fixloop-mcp"}
    )
    keys = {
        r["Properties"]["RouteKey"]
        for r in resources(template_json, "AWS::ApiGatewayV2::Route").values()
    }
    assert {"POST /mcp", "GET /mcp", "POST /mcp/{proxy+}"} <= keys
    assert "LiveWebSocketUrl" in template_json["Outputs"]
    assert "McpUrl" in template_json["Outputs"]


def test_functions_dir_has_the_live_handlers() -> None:
    root = Path(__file__).resolve().parents[2] / "functions"
    for folder in ("stream_fanout", "websocket", "websocket_authorizer", "mcp"):
        assert (root / folder / "handler.py").is_file()
