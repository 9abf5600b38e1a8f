"""The live surfaces on the embedded runtime: WebSocket API, stream fan-out, web view, MCP.

What stands in for which AWS part, so that the real handlers run unchanged:

- API Gateway WebSockets -> :class:`LocalWebSocketApi`: a Starlette WebSocket route at
  ``/ws?token=...``. On connect it calls the REQUEST authorizer handler
  (``functions/websocket_authorizer``) and then the route handler (``functions/websocket``)
  with ``$connect``; each text message is routed on its ``action`` (the API's route selection
  expression ``$request.body.action``) to the same handler; closing calls ``$disconnect``.
- The Management API (``POST /@connections/{id}``) is served by the same app, so the
  handlers' boto3 ``apigatewaymanagementapi`` client works with ``endpoint_url`` set to the
  local URL; an unknown connection answers 410 ``GoneException`` as AWS does.
- The Events table's stream -> :class:`StreamPump`: a thread that reads moto's
  ``dynamodbstreams`` (GetRecords, as Lambda's event source mapping does) and invokes the
  fan-out handler (``functions/stream_fanout``) with the DynamoDB Streams event shape; a
  reported batch item failure is retried from that record, at most ``max_retries`` times.
- Static ``web/`` at ``/``, MCP (streamable HTTP) at ``/mcp/``.

:func:`live_routes` returns the routes for any Starlette app; :class:`LiveServer` serves
them with the webhook and REST routes on the one local server
(:class:`fixloop.local.server.LocalServer`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from fixloop import aws
from fixloop.config import get_settings
from fixloop.domain.payloads import parse_json
from fixloop.errors import BadInputError
from fixloop.live import gateway as live_gateway
from fixloop.live.auth import verifier
from fixloop.live.bodies import BodyTooLong, read_body, too_long
from fixloop.local.handlers import PROJECT_ROOT, Handler, LocalLambdaContext, load_module
from fixloop.local.server import WEBSOCKET_MAX_BYTES, LocalServer

__all__ = ["LiveServer", "LocalWebSocketApi", "StreamPump", "live_routes", "provision"]

LOG = logging.getLogger(__name__)
WEB_DIR = PROJECT_ROOT / "web"
ROUTES = frozenset({"subscribe", "send", "list"})
_STAGE = "local"


def _handler(folder: str) -> Handler:
    module = load_module(PROJECT_ROOT / "functions" / folder / "handler.py", f"live_{folder}")
    handler: Handler = module.lambda_handler
    return handler


class LocalWebSocketApi:
    """API Gateway WebSockets and its Management API, in-process."""

    def __init__(self) -> None:
        self._sockets: dict[str, WebSocket] = {}
        self._send_locks: dict[str, asyncio.Lock] = {}
        self._route = _handler("websocket")
        self._authorize = _handler("websocket_authorizer")
        self.posts = 0

    def routes(self) -> list[BaseRoute]:
        return [
            WebSocketRoute("/ws", self._websocket),
            Route("/@connections/{connection_id}", self._connection, methods=["POST", "DELETE"]),
        ]

    def _context(self, websocket: WebSocket, connection_id: str, route: str) -> dict[str, Any]:
        host = websocket.url.netloc
        return {
            "routeKey": route,
            "connectionId": connection_id,
            "domainName": host,
            "stage": _STAGE,
            "apiId": "local",
            "requestId": uuid.uuid4().hex,
            "eventType": {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}.get(route, "MESSAGE"),
        }

    async def _invoke(self, handler: Handler, event: dict[str, Any], name: str) -> Any:
        return await asyncio.to_thread(handler, event, LocalLambdaContext(name))

    async def _websocket(self, websocket: WebSocket) -> None:
        connection_id = secrets.token_urlsafe(12)
        policy = await self._invoke(
            self._authorize,
            {
                "type": "REQUEST",
                "methodArn": f"arn:aws:execute-api:us-east-1:123456789012:local/{_STAGE}/$connect",
                "queryStringParameters": dict(websocket.query_params),
                "headers": dict(websocket.headers),
                "requestContext": self._context(websocket, connection_id, "$connect"),
            },
            "fixloop-websocket_authorizer",
        )
        if policy["policyDocument"]["Statement"][0]["Effect"] != "Allow":
            await websocket.close(code=1008, reason="unauthorized")  # before accept: HTTP 403
            return
        ctx = self._context(websocket, connection_id, "$connect") | {
            "authorizer": policy.get("context", {})
        }
        connected = await self._invoke(self._route, {"requestContext": ctx}, "fixloop-websocket")
        if (connected or {}).get("statusCode") != 200:  # as API Gateway: no upgrade
            await websocket.close(code=1008, reason="refused")
            return
        await websocket.accept()
        self._sockets[connection_id] = websocket
        self._send_locks[connection_id] = asyncio.Lock()
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None:  # a binary frame: API Gateway cannot route it on its action
                    text = (message.get("bytes") or b"").decode("utf-8", "replace")
                try:
                    action = parse_json(text, what="message").get("action")
                except (BadInputError, AttributeError):
                    action = None
                route = action if action in ROUTES else "$default"
                event = {
                    "requestContext": self._context(websocket, connection_id, route),
                    "body": text,
                    "isBase64Encoded": False,
                }
                await self._invoke(self._route, event, "fixloop-websocket")
        except WebSocketDisconnect:
            pass
        finally:
            self._sockets.pop(connection_id, None)
            self._send_locks.pop(connection_id, None)
            ctx = self._context(websocket, connection_id, "$disconnect")
            await self._invoke(self._route, {"requestContext": ctx}, "fixloop-websocket")

    async def _connection(self, request: Request) -> Response:
        connection_id = request.path_params["connection_id"]
        websocket = self._sockets.get(connection_id)
        if websocket is None:
            return JSONResponse(
                {"message": "Gone"}, status_code=410, headers={"x-amzn-ErrorType": "GoneException"}
            )
        if request.method == "DELETE":
            await websocket.close()
            return Response(status_code=204)
        try:
            data = (await read_body(request, WEBSOCKET_MAX_BYTES)).decode()
        except BodyTooLong as exc:
            return too_long(exc)
        except UnicodeDecodeError:
            return JSONResponse({"message": "Data must be UTF-8 text"}, status_code=400)
        try:
            async with self._send_locks[connection_id]:
                await websocket.send_text(data)
        except (RuntimeError, KeyError, OSError):
            return JSONResponse(
                {"message": "Gone"}, status_code=410, headers={"x-amzn-ErrorType": "GoneException"}
            )
        self.posts += 1
        return Response(status_code=200)


class _LazyLifespan:
    """Runs the MCP session manager on first use: a mounted app's lifespan never runs, and
    the shared server's routes should not need a lifespan of their own."""

    def __init__(
        self, app: ASGIApp, run: Callable[[], contextlib.AbstractAsyncContextManager[Any]]
    ):
        self._app = app
        self._run = run
        self._ready: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._ready is None:
            self._ready = asyncio.Event()
            self._task = asyncio.create_task(self._serve(self._ready))
        await self._ready.wait()
        await self._app(scope, receive, send)

    async def _serve(self, ready: asyncio.Event) -> None:
        async with self._run():
            ready.set()
            await asyncio.Event().wait()


def live_routes(api: LocalWebSocketApi | None = None) -> list[BaseRoute]:
    """WebSocket API, Management API, MCP at ``/mcp/`` and the web view at ``/``."""
    from fixloop.live.mcp_server import mcp_app

    api = api or LocalWebSocketApi()
    app, run = mcp_app()
    return [
        *api.routes(),
        Mount("/mcp", app=_LazyLifespan(app, run)),
        Mount("/", app=StaticFiles(directory=WEB_DIR, html=True)),
    ]


class StreamPump:
    """Lambda's DynamoDB event source mapping, for the Events table on moto."""

    def __init__(
        self,
        table_name: str,
        handler: Handler | None = None,
        *,
        poll_s: float = 0.02,
        batch_size: int = 100,
        max_retries: int = 3,
    ) -> None:
        self._table_name = table_name
        self._handler = handler or _handler("stream_fanout")
        self._poll_s = poll_s
        self._batch_size = batch_size
        self._max_retries = max_retries
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.batches = 0
        self.records = 0
        self.dropped = 0

    def start(self) -> None:
        streams = aws.client("dynamodbstreams")
        arn = aws.client("dynamodb").describe_table(TableName=self._table_name)["Table"][
            "LatestStreamArn"
        ]
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="LATEST"
        )["ShardIterator"]
        self._thread = threading.Thread(
            target=self._run,
            args=(streams, arn, shard["ShardId"], iterator),
            daemon=True,
            name="stream-pump",
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self, streams: Any, arn: str, shard_id: str, iterator: str) -> None:
        retries: dict[str, int] = {}
        while not self._stop.is_set():
            try:
                resp = streams.get_records(ShardIterator=iterator, Limit=self._batch_size)
            except Exception:
                LOG.exception("stream pump: GetRecords failed")
                time.sleep(0.5)
                continue
            records = resp.get("Records", [])
            iterator = resp["NextShardIterator"]
            if not records:
                self._stop.wait(self._poll_s)
                continue
            failed = self._deliver(arn, records)
            if failed is None:
                continue
            retries[failed] = retries.get(failed, 0) + 1
            if retries[failed] > self._max_retries:
                LOG.error(
                    "stream pump: record %s dropped after %d retries", failed, self._max_retries
                )
                self.dropped += 1
                kind = "AFTER_SEQUENCE_NUMBER"
            else:
                kind = "AT_SEQUENCE_NUMBER"
            iterator = streams.get_shard_iterator(
                StreamArn=arn, ShardId=shard_id, ShardIteratorType=kind, SequenceNumber=failed
            )["ShardIterator"]

    def _deliver(self, arn: str, records: list[dict[str, Any]]) -> str | None:
        """Invoke the handler; the first failed sequence number, if any."""
        event = {"Records": [_lambda_record(r, arn) for r in records]}
        self.batches += 1
        self.records += len(records)
        try:
            result = self._handler(event, LocalLambdaContext("fixloop-stream_fanout"))
        except Exception:
            LOG.exception("stream pump: fan-out failed for the whole batch")
            return str(records[0]["dynamodb"]["SequenceNumber"])
        failures = (result or {}).get("batchItemFailures") or []
        if not failures:
            return None
        return str(min(failures, key=lambda f: int(f["itemIdentifier"]))["itemIdentifier"])


def _lambda_record(record: dict[str, Any], arn: str) -> dict[str, Any]:
    """A GetRecords record as Lambda delivers it (times as epoch seconds, the source ARN)."""
    out: dict[str, Any] = json.loads(json.dumps(record, default=_json_default))
    out["eventSourceARN"] = arn
    return out


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return int(value.timestamp())
    raise TypeError(f"cannot serialise {type(value).__name__}")


def provision() -> None:
    """The Connections table as the CDK app makes it (idempotent)."""
    ddb = aws.client("dynamodb")
    name = get_settings().connections_table
    with contextlib.suppress(ddb.exceptions.ResourceInUseException):
        ddb.create_table(
            TableName=name,
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
        )


class LiveServer:
    """The one local HTTP server with every surface: the webhooks and REST API
    (:func:`fixloop.local.gateway.gateway_routes`), the live view, WebSocket API and MCP
    (:func:`live_routes`), and the stream pump feeding the fan-out.

    Start inside a running :class:`~fixloop.local.runtime.EmbeddedRuntime`; it sets
    ``FIXLOOP_WEBSOCKET_MANAGEMENT_URL`` and (unless given) a random ``FIXLOOP_LIVE_TOKEN``.
    """

    def __init__(self, runtime: Any, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._runtime = runtime
        self._host = host
        self._port = port
        self._server: LocalServer | None = None
        self.api: LocalWebSocketApi | None = None
        self.pump: StreamPump | None = None
        self.url = ""
        self.token = ""

    def start(self) -> LiveServer:
        from fixloop.local.gateway import gateway_routes

        self._server = LocalServer(gateway_routes(), host=self._host, port=self._port)
        self.url = self._server.url
        self.token = get_settings().live_token or secrets.token_urlsafe(24)
        self._runtime.configure(
            websocket_management_url=self.url, live_token=self.token, live_auth="token"
        )
        verifier.cache_clear()
        live_gateway.reset()
        provision()
        self.api = LocalWebSocketApi()
        self._server.app.router.routes.extend(live_routes(self.api))
        self._server.start()
        self.pump = StreamPump(get_settings().events_table)
        self.pump.start()
        return self

    def stop(self) -> None:
        if self.pump is not None:
            self.pump.stop()
        if self._server is not None:
            self._server.stop()

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/ws?token=" + self.token

    def view_url(self, investigation_id: str = "") -> str:
        """The live view, signed in with the token (in the fragment: never sent to a server)."""
        suffix = f"&investigation={investigation_id}" if investigation_id else ""
        return f"{self.url}/#token={self.token}{suffix}"

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
