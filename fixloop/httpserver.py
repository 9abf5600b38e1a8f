"""Small HTTP servers: quiet about clients that hang up, runnable on a background thread."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class QuietHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # the client went away (a retry, a timeout): nothing to report
        super().handle_error(request, client_address)


class BackgroundServer:
    """A :class:`QuietHTTPServer` on a daemon thread: ``start``/``stop``, a context manager,
    and the ``base_url`` to give clients."""

    def __init__(
        self, host: str, port: int, handler: type[BaseHTTPRequestHandler], name: str
    ) -> None:
        self._httpd = QuietHTTPServer((host, port), handler)
        self._thread: threading.Thread | None = None
        self._name = name

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Self:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=self._name,
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


JsonAnswer = Callable[[BaseHTTPRequestHandler, bytes], tuple[int, Any]]
"""Given the request (path, headers) and its raw body: the status and the JSON document."""


def json_post_handler(
    answer: JsonAnswer, *, content_type: str = "application/json"
) -> type[BaseHTTPRequestHandler]:
    """A handler class that answers every POST with the JSON ``answer`` gives, logging
    nothing (small local API servers, such as the tests' Slack and Linear stand-ins)."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, document = answer(self, raw)
            body = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler
