"""The local HTTP server: a Starlette app served by uvicorn in a background thread.

The embedded runtime serves everything a deployment serves over HTTP on this one server: the
webhooks and the REST API (:mod:`fixloop.local.gateway`), and the live view, WebSocket API and
MCP (:mod:`fixloop.local.live`, whose :class:`~fixloop.local.live.LiveServer` builds on it).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Sequence

import uvicorn
from starlette.applications import Starlette
from starlette.routing import BaseRoute

from fixloop.errors import BadInputError

__all__ = ["LocalServer"]

WEBSOCKET_MAX_BYTES = 128 * 1024
"""API Gateway WebSockets' message limit (its frames are 32 KB): a larger message closes the
connection (1009), and the Management API refuses larger posts."""


class LocalServer:
    """``with LocalServer(routes) as server: server.url`` (loopback, a free port by default)."""

    def __init__(
        self, routes: Sequence[BaseRoute], *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.app = Starlette(routes=list(routes))
        """More routes may be appended to ``app.router.routes`` before :meth:`start`."""
        # Bound now, so the URL is known before the server starts (the live surfaces give it
        # to the handlers as the WebSocket management endpoint).
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind((host, port))
        except (OSError, OverflowError) as exc:  # in use, not ours, or not a port at all
            self._socket.close()
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise BadInputError(f"cannot listen on {host}:{port}: {why}") from exc
        bound_host, bound_port = self._socket.getsockname()[:2]
        self.url = f"http://{bound_host}:{bound_port}"
        self._config = uvicorn.Config(
            self.app,
            log_level="warning",
            log_config=None,
            lifespan="off",
            access_log=False,
            ws="websockets-sansio",
            ws_max_size=WEBSOCKET_MAX_BYTES,
        )
        self._server = uvicorn.Server(self._config)
        self._thread: threading.Thread | None = None

    def __enter__(self) -> LocalServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, timeout_s: float = 10.0) -> None:
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name="fixloop-http",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the local HTTP server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        if self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
            self._thread = None
