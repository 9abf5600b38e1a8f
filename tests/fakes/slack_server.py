"""A local HTTP server speaking the part of the Slack Web API fixloop uses
(``chat.postMessage``), for tests of the real slack-sdk ``WebClient``::

    with SlackServer(token="xoxb-test") as slack:
        WebClient(token="xoxb-test", base_url=slack.api_url).chat_postMessage(...)
        assert slack.messages[0]["text"] == ...

As Slack documents: the token comes as ``Authorization: Bearer``; a missing or unknown one
answers ``{"ok": false, "error": "invalid_auth"}`` (HTTP 200); arguments come as JSON or
form fields; a message gets a ``ts`` unique in its channel; ``thread_ts`` must name a message
of the channel (else ``thread_not_found``). Every request is recorded in :attr:`requests`.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl

from fixloop.httpserver import BackgroundServer, json_post_handler

__all__ = ["SlackServer"]


@dataclass
class SlackServer:
    token: str = "xoxb-test"
    requests: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _clock: int = field(default_factory=lambda: time.time_ns() // 1000)
    """Microseconds: message ts values are unique per channel, as on Slack."""
    _server: BackgroundServer | None = None

    @property
    def api_url(self) -> str:
        assert self._server is not None, "start the server first"
        return self._server.base_url + "/api/"

    def __enter__(self) -> SlackServer:
        def answer(request: BaseHTTPRequestHandler, raw: bytes) -> tuple[int, Any]:
            kind = request.headers.get("Content-Type", "")
            args: dict[str, Any] = (
                json.loads(raw or b"{}")
                if kind.startswith("application/json")
                else dict(parse_qsl(raw.decode()))
            )
            method = request.path.removeprefix("/api/")
            return 200, self._call(method, request.headers.get("Authorization", ""), args)

        handler = json_post_handler(answer, content_type="application/json; charset=utf-8")
        self._server = BackgroundServer("127.0.0.1", 0, handler, "slack-server").start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.stop()

    def thread(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """The replies posted into one thread, in order."""
        return [
            m for m in self.messages if (m["channel"], m.get("thread_ts")) == (channel, thread_ts)
        ]

    def _call(self, method: str, auth: str, args: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.requests.append({"method": method, "auth": auth, "args": args})
            if auth != f"Bearer {self.token}":
                return {"ok": False, "error": "invalid_auth"}
            if method != "chat.postMessage":
                return {"ok": False, "error": "unknown_method"}
            channel, text = str(args.get("channel", "")), str(args.get("text", ""))
            if not channel:
                return {"ok": False, "error": "channel_not_found"}
            if not text:
                return {"ok": False, "error": "no_text"}
            thread = args.get("thread_ts")
            if thread and not any(
                m["ts"] == thread and m["channel"] == channel for m in self.messages
            ):
                return {"ok": False, "error": "thread_not_found"}
            self._clock += 100
            ts = f"{self._clock // 1_000_000}.{self._clock % 1_000_000:06d}"
            message = {"channel": channel, "ts": ts, "text": text, "thread_ts": thread}
            self.messages.append(message)
            return {"ok": True, "channel": channel, "ts": ts, "message": {"text": text, "ts": ts}}
