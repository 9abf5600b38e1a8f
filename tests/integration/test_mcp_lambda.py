"""The MCP function as API Gateway (HTTP API, payload 2.0) invokes it."""

from __future__ import annotations

import json
from typing import Any

from fixloop.local.handlers import PROJECT_ROOT, LocalLambdaContext, load_module
from tests.runtime import LocalRuntime

TOKEN = "mcp-lambda-test-token-0123456789"


def _event(body: dict[str, Any], token: str) -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": "POST /mcp",
        "rawPath": "/mcp",
        "rawQueryString": "",
        "headers": {
            "content-type": "application/json",
            "accept": "application/json, text/event-stream",
            "authorization": f"Bearer {token}",
            "host": "abc123.execute-api.us-east-1.amazonaws.com",
            "mcp-protocol-version": "2025-06-18",
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "http": {
                "method": "POST",
                "path": "/mcp",
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.9",
                "userAgent": "test",
            },
            "requestId": "r1",
            "routeKey": "POST /mcp",
            "stage": "$default",
            "time": "26/Nov/2026:15:00:00 +0000",
            "timeEpoch": 1795000000000,
        },
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def test_tools_list_through_the_lambda_handler(runtime: LocalRuntime) -> None:
    from fixloop.live.auth import verifier

    runtime.configure(live_token=TOKEN, live_auth="token")
    verifier.cache_clear()
    handler = load_module(
        PROJECT_ROOT / "functions" / "mcp" / "handler.py", "mcp_fn"
    ).lambda_handler
    request = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    # Given the function behind the HTTP API, when a client lists tools with its token
    resp = handler(_event(request, TOKEN), LocalLambdaContext("fixloop-mcp"))
    # Then it answers with the tools; without the right token it refuses
    assert resp["statusCode"] == 200, resp
    names = {t["name"] for t in json.loads(resp["body"])["result"]["tools"]}
    assert {"list_investigations", "read_investigation", "post_message"} <= names
    denied = handler(_event(request, "wrong"), LocalLambdaContext("fixloop-mcp"))
    assert denied["statusCode"] == 401
    runtime.configure(live_token=None, live_auth=None)
    verifier.cache_clear()
