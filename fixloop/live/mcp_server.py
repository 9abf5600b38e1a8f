"""fixloop as an MCP server (streamable HTTP): follow and steer investigations from an IDE.

Tools: ``list_investigations``, ``read_investigation`` (summary and events after a position),
``post_message``, ``answer_question`` and ``approve``. Every request must carry
``Authorization: Bearer <token>``, checked by the same verifier as the WebSocket's
``$connect`` (a Cognito JWT in AWS, the printed token locally), and a body within
``FIXLOOP_MAX_MESSAGE_BYTES`` (413 above, unread).

The app is stateless (``stateless_http``, JSON responses): any instance can answer any
request, which is what a Lambda behind API Gateway needs; locally it is mounted on the live
server at ``/mcp/``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from fixloop.config import get_settings
from fixloop.live.auth import Unauthorized, verifier
from fixloop.live.bodies import BodyLimit
from fixloop.live.inbox import send_to_investigation
from fixloop.live.views import investigation_summaries, read_investigation

__all__ = ["build_server", "mcp_app"]

INSTRUCTIONS = (
    "fixloop investigates production problems and proposes fixes as pull requests. List "
    "investigations, read one (pass next_after back as after to page), and steer it: a "
    "message reaches the agent at its next turn."
)


def build_server() -> MCPServer:
    # log_level: MCPServer configures the root logger (basicConfig); INFO would print every
    # botocore line of the process.
    server: MCPServer = MCPServer("fixloop", instructions=INSTRUCTIONS, log_level="WARNING")

    @server.tool()
    async def list_investigations(limit: int = 50) -> list[dict[str, Any]]:
        """The newest investigations: id, title, status, turns, outcome, pull request."""
        return await anyio.to_thread.run_sync(lambda: investigation_summaries(limit))

    @server.tool(name="read_investigation")
    async def read_investigation_events(
        investigation_id: str, after: str | None = None, limit: int = 100
    ) -> dict[str, Any]:
        """One investigation's summary and its events after position ``after`` (all if
        omitted), oldest first, at most ``limit``; ``next_after`` continues."""
        return await anyio.to_thread.run_sync(
            lambda: read_investigation(investigation_id, after, limit)
        )

    @server.tool()
    async def post_message(investigation_id: str, text: str) -> dict[str, Any]:
        """Tell the agent something; it reads it at its next turn."""
        return await _post(investigation_id, text)

    @server.tool()
    async def answer_question(
        investigation_id: str, answer: str, wait_id: str = ""
    ) -> dict[str, Any]:
        """Answer the question the agent asked (``wait_id`` from its question_asked event)."""
        prefix = f"Answer to question {wait_id}: " if wait_id else "Answer: "
        return await _post(investigation_id, prefix + answer)

    @server.tool()
    async def approve(investigation_id: str, comment: str = "") -> dict[str, Any]:
        """Approve the pull request the agent waits to open (a reply that starts with
        "approve" is an approval; see fixloop.conversation.inbox.is_approval)."""
        return await _post(investigation_id, "Approved." + (f" {comment}" if comment else ""))

    return server


async def _post(investigation_id: str, text: str) -> dict[str, Any]:
    posted = await anyio.to_thread.run_sync(
        lambda: send_to_investigation(investigation_id, text, author="mcp", channel="mcp")
    )
    return {
        "investigation_id": investigation_id,
        "posted": posted.outcome == "accepted",
        "outcome": posted.outcome,
        "resumed": posted.resumed,
        "status": posted.status,
    }


class BearerAuth:
    """Refuse requests without a valid ``Authorization: Bearer`` token (401)."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            value = headers.get(b"authorization", b"").decode()
            token = value[7:] if value.lower().startswith("bearer ") else ""
            try:
                verifier().verify(token)
            except Unauthorized as exc:
                response = JSONResponse(
                    {"error": "unauthorized", "detail": str(exc)},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
                await response(scope, receive, send)
                return
        await self._app(scope, receive, send)


def mcp_app(
    path: str = "/",
) -> tuple[ASGIApp, Callable[[], contextlib.AbstractAsyncContextManager[Any]]]:
    """The authenticated ASGI app and the session manager's ``run`` (enter it once)."""
    server = build_server()
    app = server.streamable_http_app(
        streamable_http_path=path,
        stateless_http=True,
        json_response=True,
        # Authentication is the bearer token; the Host check (DNS rebinding) guards servers
        # without one, and behind API Gateway the host is not known in advance.
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    # The token is checked first (a stranger's body is never read), then the body's size.
    limited = BodyLimit(app, lambda: get_settings().max_message_bytes)
    return BearerAuth(limited), server.session_manager.run
