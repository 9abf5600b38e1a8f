"""API Gateway on the local HTTP server: each request becomes a REST API proxy event (v1)
for the real handler in ``functions/<name>/``, and its answer the HTTP response.

The event carries what API Gateway's Lambda proxy integration sends: the raw body (base64
when it is not UTF-8 text), single- and multi-value headers and query parameters, the path
parameters of the resource, and a request context with a fresh request id. Routes that are
IAM-authorized in AWS are open here: the server listens on loopback only. Bodies are read
within API Gateway's 10 MB (413 above, by ``Content-Length`` before reading any of it).

Handlers run one at a time, as in one Lambda execution environment: Powertools' resolvers
keep the current event and context on a class shared by every resolver of the process, so
two requests handled at once would read each other's.
"""

from __future__ import annotations

import base64
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from fixloop.live.bodies import BodyTooLong, read_body, too_long
from fixloop.local.handlers import FUNCTIONS_DIR, Handler, LocalLambdaContext, load_module

__all__ = ["API_ROUTES", "ApiRoute", "gateway_routes", "proxy_event"]

LOCAL_FUNCTION_PREFIX = "fixloop"
API_GATEWAY_MAX_BODY = 10 * 1024 * 1024
"""API Gateway's REST payload limit: larger requests never reach a handler (413). The handlers
apply their own, smaller limits (``FIXLOOP_MAX_MESSAGE_BYTES``)."""
_ONE_AT_A_TIME = threading.Lock()


@dataclass(frozen=True)
class ApiRoute:
    method: str
    resource: str
    """The API Gateway resource path, with ``{name}`` path parameters."""
    function: str
    """The folder under ``functions/`` whose handler serves it."""


API_ROUTES: tuple[ApiRoute, ...] = (
    ApiRoute("POST", "/webhooks/github", "github_webhook"),
    ApiRoute("POST", "/webhooks/slack", "slack_events"),
    ApiRoute("POST", "/webhooks/linear", "linear_webhook"),
    ApiRoute("POST", "/signals", "api_trigger"),
    ApiRoute("GET", "/investigations/{investigation_id}", "investigations_api"),
    ApiRoute("POST", "/investigations/{investigation_id}/messages", "investigations_api"),
    ApiRoute("GET", "/stats", "investigations_api"),
)
"""The routes of the REST API (stacks/constructs/webhooks.py), as the local server has them."""


def proxy_event(route: ApiRoute, request: Request, body: bytes) -> dict[str, Any]:
    try:
        text, encoded = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode(), True
    multi_headers: dict[str, list[str]] = {}
    for key, value in request.headers.items():
        multi_headers.setdefault(key, []).append(value)
    multi_query: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        multi_query.setdefault(key, []).append(value)
    request_id = str(uuid.uuid4())
    return {
        "resource": route.resource,
        "path": request.url.path,
        "httpMethod": request.method,
        "headers": {k: v[-1] for k, v in multi_headers.items()},
        "multiValueHeaders": multi_headers,
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": dict(request.path_params) or None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": route.resource,
            "httpMethod": request.method,
            "path": request.url.path,
            "stage": "local",
            "requestId": request_id,
            "identity": {
                "sourceIp": request.client.host if request.client else "127.0.0.1",
                "caller": "local",
                "userArn": "local",
            },
        },
        "body": text if body else None,
        "isBase64Encoded": encoded,
    }


def _endpoint(route: ApiRoute, handler: Handler) -> Any:
    async def endpoint(request: Request) -> Response:
        try:
            body = await read_body(request, API_GATEWAY_MAX_BODY)
        except BodyTooLong as exc:
            return too_long(exc)
        event = proxy_event(route, request, body)
        context = LocalLambdaContext(f"{LOCAL_FUNCTION_PREFIX}-{route.function}")
        answer: dict[str, Any] = await run_in_threadpool(_invoke, handler, event, context)
        raw = answer.get("body") or ""
        content = base64.b64decode(raw) if answer.get("isBase64Encoded") else raw.encode()
        headers = {k: str(v) for k, v in (answer.get("headers") or {}).items()}
        headers.pop("content-length", None)
        return Response(content, status_code=int(answer["statusCode"]), headers=headers)

    return endpoint


def _invoke(handler: Handler, event: dict[str, Any], context: LocalLambdaContext) -> Any:
    with _ONE_AT_A_TIME:
        return handler(event, context)


def gateway_routes(
    routes: Sequence[ApiRoute] = API_ROUTES, handlers: dict[str, Handler] | None = None
) -> list[BaseRoute]:
    """Starlette routes serving ``routes`` with the handlers of ``functions/`` (or
    ``handlers``, by folder name). Routes of one resource share one Starlette route."""
    loaded: dict[str, Handler] = dict(handlers or {})
    by_resource: dict[str, list[ApiRoute]] = {}
    for r in routes:
        by_resource.setdefault(r.resource, []).append(r)
        if r.function not in loaded:
            module = load_module(
                FUNCTIONS_DIR / r.function / "handler.py", f"fixloop_gateway_{r.function}"
            )
            loaded[r.function] = module.lambda_handler
    out: list[BaseRoute] = []
    for resource, group in by_resource.items():
        endpoints = {r.method: _endpoint(r, loaded[r.function]) for r in group}

        async def dispatch(request: Request, endpoints: dict[str, Any] = endpoints) -> Response:
            return await endpoints[request.method](request)  # type: ignore[no-any-return]

        out.append(Route(resource, dispatch, methods=list(endpoints)))
    return out
