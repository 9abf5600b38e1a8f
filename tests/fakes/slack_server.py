"""A local HTTP server speaking the part of the Slack Web API fixloop uses
(``chat.postMessage``; ``auth.test`` and ``bots.info``, from which the workspace and app the
bot token belongs to are learned), for tests of the real slack-sdk ``WebClient``::

    with SlackServer(token="xoxb-test") as slack:
        WebClient(token="xoxb-test", base_url=slack.api_url).chat_postMessage(...)
        assert slack.messages[0]["text"] == ...

As Slack documents: the token comes as ``Authorization: Bearer``; a missing one answers
``{"ok": false, "error": "not_authed"}``, an unknown one ``invalid_auth`` (HTTP 200 both);
arguments come as JSON, form fields or the query string; a method needs its scope
(``chat.postMessage`` ``chat:write``, ``bots.info`` ``users:read``; else ``missing_scope``
with ``needed`` and ``provided``); ``auth.test`` needs none and answers the bot's workspace
(``team_id``), user and ``bot_id``; ``bots.info`` answers the bot's ``app_id`` for its own
bot id and ``bot_not_found`` for any other; a message gets a ``ts`` unique in its channel;
``thread_ts`` must name a message of the channel (else ``thread_not_found``). The next
:attr:`fail_next` requests answer HTTP 503 (``service_unavailable``), as Slack does in an
outage. Every request is recorded in :attr:`requests`.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fixloop.httpserver import BackgroundServer, json_post_handler

__all__ = ["SlackServer"]


@dataclass
class SlackServer:
    token: str = "xoxb-test"
    team_id: str = "T1"
    """The workspace the bot token belongs to."""
    app_id: str = "A1"
    bot_id: str = "B1"
    scopes: tuple[str, ...] = ("chat:write", "users:read")
    """The scopes the bot token was granted."""
    fail_next: int = 0
    """This many of the coming requests answer 503 (an outage)."""
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
            url = urlsplit(request.path)
            args: dict[str, Any] = dict(parse_qsl(url.query))
            args.update(
                json.loads(raw or b"{}")
                if kind.startswith("application/json")
                else dict(parse_qsl(raw.decode()))
            )
            method = url.path.removeprefix("/api/")
            return self._call(method, request.headers.get("Authorization", ""), args)

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

    def _call(self, method: str, auth: str, args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append({"method": method, "auth": auth, "args": args})
            if self.fail_next > 0:
                self.fail_next -= 1
                return 503, {"ok": False, "error": "service_unavailable"}
            return 200, self._answer(method, auth, args)

    def _answer(self, method: str, auth: str, args: dict[str, Any]) -> dict[str, Any]:
        if not auth.removeprefix("Bearer ").strip():
            return {"ok": False, "error": "not_authed"}
        if auth != f"Bearer {self.token}":
            return {"ok": False, "error": "invalid_auth"}
        needed = _SCOPES.get(method)
        if needed is None:
            return {"ok": False, "error": "unknown_method"}
        if needed and needed not in self.scopes:
            return {
                "ok": False,
                "error": "missing_scope",
                "needed": needed,
                "provided": ",".join(self.scopes),
            }
        if method == "auth.test":
            return self._auth_test()
        if method == "bots.info":
            return self._bots_info(str(args.get("bot", "")))
        return self._post_message(args)

    def _auth_test(self) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://fixloop-test.slack.com/",
            "team": "fixloop test",
            "user": "fixloop",
            "team_id": self.team_id,
            "user_id": "U0FIXLOOP",
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _bots_info(self, bot: str) -> dict[str, Any]:
        if bot != self.bot_id:
            return {"ok": False, "error": "bot_not_found"}
        return {
            "ok": True,
            "bot": {
                "id": self.bot_id,
                "deleted": False,
                "name": "fixloop",
                "updated": 1_700_000_000,
                "app_id": self.app_id,
                "user_id": "U0FIXLOOP",
                "icons": {"image_36": "https://a.slack-edge.com/36.png"},
            },
        }

    def _post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, text = str(args.get("channel", "")), str(args.get("text", ""))
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if not text:
            return {"ok": False, "error": "no_text"}
        thread = args.get("thread_ts")
        if thread and not any(m["ts"] == thread and m["channel"] == channel for m in self.messages):
            return {"ok": False, "error": "thread_not_found"}
        self._clock += 100
        ts = f"{self._clock // 1_000_000}.{self._clock % 1_000_000:06d}"
        message = {"channel": channel, "ts": ts, "text": text, "thread_ts": thread}
        self.messages.append(message)
        return {"ok": True, "channel": channel, "ts": ts, "message": {"text": text, "ts": ts}}


_SCOPES = {"auth.test": "", "bots.info": "users:read", "chat.postMessage": "chat:write"}
"""The methods the server knows, and the scope each needs ("" none)."""
