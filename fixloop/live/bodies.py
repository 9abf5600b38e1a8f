"""Request bodies read within a limit, on the ASGI servers (MCP, the local server).

A body is refused (413) by its declared ``Content-Length`` before any of it is read, and by
counting while it arrives (a chunked request declares nothing), so no request makes a
server hold more than the limit in memory.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fixloop.errors import FixloopError

__all__ = ["BodyLimit", "BodyTooLong", "read_body", "too_long"]


class BodyTooLong(FixloopError):
    """A request body over the endpoint's limit (answered 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body is over {limit:,} bytes, the limit of this endpoint")
        self.limit = limit


def _declared_over(headers: dict[str, str], limit: int) -> bool:
    declared = headers.get("content-length", "")
    return (
        declared.isascii() and declared.isdigit() and (len(declared) > 15 or int(declared) > limit)
    )


async def read_body(request: Request, limit: int) -> bytes:
    """The request's body; :class:`BodyTooLong` as soon as it is known to be over ``limit``."""
    if _declared_over(dict(request.headers), limit):
        raise BodyTooLong(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLong(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def too_long(exc: BodyTooLong) -> JSONResponse:
    return JSONResponse({"message": str(exc)}, status_code=413)


class BodyLimit:
    """ASGI middleware: the app sees only requests whose body is within ``limit()`` bytes
    (read here, then handed on whole); others are answered 413 unread or as soon as they
    pass it."""

    def __init__(self, app: ASGIApp, limit: Callable[[], int]) -> None:
        self._app = app
        self._limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        limit = self._limit()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if _declared_over(headers, limit):
            await too_long(BodyTooLong(limit))(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await too_long(BodyTooLong(limit))(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        whole: list[Message] = [{"type": "http.request", "body": b"".join(chunks)}]

        async def replay() -> Message:
            return whole.pop() if whole else await receive()

        await self._app(scope, replay, send)
