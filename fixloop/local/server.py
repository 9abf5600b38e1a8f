"""The local HTTP server: a Starlette app served by uvicorn in a background thread.

The embedded runtime serves the webhooks and the REST API on it (routes from
:mod:`fixloop.local.gateway`); other surfaces (live view, MCP) add their own routes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import uvicorn
from starlette.applications import Starlette
from starlette.routing import BaseRoute

__all__ = ["LocalServer"]


class LocalServer:
    """``with LocalServer(routes) as server: server.url`` (loopback, a free port by default)."""

    def __init__(
        self, routes: Sequence[BaseRoute], *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.app = Starlette(routes=list(routes))
        self._config = uvicorn.Config(
            self.app, host=host, port=port, log_level="warning", lifespan="off", access_log=False
        )
        self._server = uvicorn.Server(self._config)
        self._thread: threading.Thread | None = None
        self.url = ""

    def __enter__(self) -> LocalServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, timeout_s: float = 10.0) -> None:
        self._thread = threading.Thread(target=self._server.run, name="fixloop-http", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the local HTTP server did not start")
            time.sleep(0.01)
        host, port = self._server.servers[0].sockets[0].getsockname()[:2]
        self.url = f"http://{host}:{port}"

    def stop(self) -> None:
        if self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
            self._thread = None
