"""The HTTP side of the local GitHub API: JSON in, JSON out, one write per response."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.github.protocol import RecordedRequest

__all__ = ["Answer", "handler_for"]

Answer = Callable[[RecordedRequest], tuple[int, Any, dict[str, str], bool]]
"""(status, body, headers, drop) for a request; body None means no content, drop means
close the connection without answering."""


def handler_for(answer: Answer) -> type[BaseHTTPRequestHandler]:
    class Handler(_GitHubHandler):
        def _answer(self, request: RecordedRequest) -> tuple[int, Any, dict[str, str], bool]:
            return answer(request)

    return Handler


class _GitHubHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # One write per response, sent at once: headers and body in separate small segments
    # meet the client's delayed ACK (Nagle) and cost 40 ms a request.
    wbufsize = 1 << 16
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output quiet

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _answer(self, request: RecordedRequest) -> tuple[int, Any, dict[str, str], bool]:
        raise NotImplementedError

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = raw.decode("utf-8", "replace")
        url = urlsplit(self.path)
        request = RecordedRequest(
            method=method,
            path=url.path,
            query=parse_qs(url.query),
            body=body,
            headers={name.lower(): value for name, value in self.headers.items()},
        )
        status, payload, headers, drop = self._answer(request)
        if drop:
            self.close_connection = True  # processed, but the client never hears of it
            return
        data = json.dumps(payload).encode() if payload is not None else b""
        self.send_response(status)
        if payload is not None:
            self.send_header("content-type", "application/json; charset=utf-8")
        self.send_header("content-length", str(len(data)))
        self.send_header("x-github-media-type", "github.v3; format=json")
        self.send_header("etag", f'W/"{hashlib.sha1(data).hexdigest()}"')
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()
