"""The local Messages API server: the reply queue, and each request's answer (JSON or a
stream)."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler
from typing import Any

from fixloop.httpserver import BackgroundServer
from tests.fakes.messages.prompt_cache import PromptCache, block_tokens, count_prompt_tokens
from tests.fakes.messages.replies import (
    ErrorReply,
    JsonDict,
    MessageReply,
    RecordedRequest,
    Reply,
    Responder,
    StreamErrorReply,
    error_body,
)
from tests.fakes.messages.rules import Refusal, check_request
from tests.fakes.messages.sse import EventStream, block_events
from tests.fakes.messages.thinking import ThinkingLedger

__all__ = ["MessagesServer"]


class MessagesServer(BackgroundServer):
    """A scripted Messages API on 127.0.0.1, served from a background thread."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        chunk_size: int = 8,
        responder: Responder | None = None,
        clock: Callable[[], float] = time.monotonic,
        delta_interval_s: float = 0.0,
    ) -> None:
        self.requests: list[RecordedRequest] = []
        self.chunk_size = chunk_size
        """How many characters each text, thinking or partial_json fragment carries."""
        self.responder = responder
        """Answers a message request when nothing is queued (a function of the body)."""
        self.cache = PromptCache(clock)
        self.thinking = ThinkingLedger()
        """The thinking blocks this server signed and returned, to check what comes back."""
        self.delta_interval_s = delta_interval_s
        """Pause after each streamed delta, to pace a stream like a model generating it."""
        self.sent_deltas: list[tuple[float, JsonDict]] = []
        """(time.time() just after it was written, delta) for every streamed delta."""
        self._replies: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        super().__init__(host, port, _handler_for(self), "messages-server")

    def enqueue(
        self,
        content: list[JsonDict],
        *,
        stop_reason: str | None = None,
        usage: Mapping[str, int] | None = None,
        model: str | None = None,
    ) -> None:
        """Queue an assistant message. tool_use blocks without an id get one.

        ``stop_reason`` defaults to ``tool_use`` if a block calls a tool, else ``end_turn``;
        ``usage`` given replaces the server's own accounting (missing fields are 0);
        ``model`` defaults to the model the request named.
        """
        blocks = [dict(block) for block in content]
        for block in blocks:
            if block.get("type") == "tool_use" and not block.get("id"):
                block["id"] = f"toolu_srv{next(self._ids):021d}"
        if stop_reason is None:
            calls_tool = any(block.get("type") == "tool_use" for block in blocks)
            stop_reason = "tool_use" if calls_tool else "end_turn"
        full_usage = (
            None
            if usage is None
            else {
                "input_tokens": 0,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": 0,
                **usage,
            }
        )
        self._push(MessageReply(blocks, stop_reason, full_usage, model))

    def enqueue_error(
        self,
        status: int,
        error_type: str,
        message: str,
        retry_after: float | str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Queue an HTTP error reply (e.g. ``429, "rate_limit_error", "slow down", "0"``)."""
        extra = dict(headers or {})
        if retry_after is not None:
            extra["retry-after"] = str(retry_after)
        self._push(ErrorReply(status, error_type, message, extra))

    def enqueue_stream_error(self, error_type: str, message: str) -> None:
        """Queue a stream that fails midway with an ``event: error`` (as overloads do)."""
        self._push(StreamErrorReply(error_type, message))

    @property
    def pending(self) -> int:
        """How many queued replies have not been served yet."""
        with self._lock:
            return len(self._replies)

    def _push(self, reply: Reply) -> None:
        with self._lock:
            self._replies.append(reply)

    def _pop(self, body: JsonDict) -> Reply | None:
        with self._lock:
            if self._replies:
                return self._replies.popleft()
        return self.responder(body) if self.responder is not None else None

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def message_requests(self) -> list[RecordedRequest]:
        """The ``POST /v1/messages`` requests received, in order."""
        with self._lock:
            return [r for r in self.requests if r.path == "/v1/messages"]

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}_srv{next(self._ids):021d}"


def _handler_for(server: MessagesServer) -> type[BaseHTTPRequestHandler]:
    class Handler(_MessagesHandler):
        owner = server

    return Handler


class _MessagesHandler(BaseHTTPRequestHandler):
    owner: MessagesServer
    protocol_version = "HTTP/1.1"  # keep-alive, chunked streams: what the SDK meets in the wild

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output quiet

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = raw.decode("utf-8", "replace")
        path = self.path.split("?", 1)[0]
        usage: JsonDict | None = None
        refusal: str | None = None
        if path in ("/v1/messages", "/v1/messages/count_tokens") and isinstance(body, dict):
            try:
                betas = frozenset(
                    b.strip() for b in self.headers.get("anthropic-beta", "").split(",") if b
                )
                check_request(
                    body, self.owner.thinking, counting=path != "/v1/messages", betas=betas
                )
            except Refusal as exc:
                refusal = str(exc)
            else:
                if path == "/v1/messages":
                    usage = self.owner.cache.account(body)
        self.owner._record(
            RecordedRequest(
                method="POST",
                path=path,
                headers={name.lower(): value for name, value in self.headers.items()},
                body=body,
                usage=usage,
            )
        )
        if not isinstance(body, dict):
            self._error(ErrorReply(400, "invalid_request_error", "body must be a JSON object"))
        elif refusal is not None:
            self._error(ErrorReply(400, "invalid_request_error", refusal))
        elif path == "/v1/messages/count_tokens":
            self._json(200, {"input_tokens": max(1, count_prompt_tokens(body))})
        elif path == "/v1/messages":
            assert usage is not None
            self._messages(body, usage)
        else:
            self._error(ErrorReply(404, "not_found_error", f"no route for POST {path}"))

    def do_GET(self) -> None:
        self._error(ErrorReply(404, "not_found_error", f"no route for GET {self.path}"))

    # -- replies -----------------------------------------------------------------------------

    def _messages(self, body: JsonDict, usage: JsonDict) -> None:
        reply = self.owner._pop(body)
        if isinstance(reply, MessageReply):
            content = self.owner.thinking.issue(body, reply.content)
            output = max(1, sum(block_tokens(b) for b in content))
            reply = MessageReply(
                content,
                reply.stop_reason,
                reply.usage if reply.usage is not None else {**usage, "output_tokens": output},
                reply.model,
            )
        if reply is None:
            self._error(
                ErrorReply(
                    400,
                    "invalid_request_error",
                    "messages server: no reply queued for this request",
                    {"x-should-retry": "false"},
                )
            )
        elif isinstance(reply, ErrorReply):
            self._error(reply)
        elif isinstance(reply, StreamErrorReply):
            self._stream_error(body, reply)
        elif body.get("stream"):
            self._stream(body, reply)
        else:
            self._json(200, self._message(body, reply, reply.content, reply.stop_reason))

    def _message(
        self,
        body: JsonDict,
        reply: MessageReply | None,
        content: list[JsonDict],
        stop_reason: str | None,
    ) -> JsonDict:
        usage = (
            dict(reply.usage)
            if reply is not None and reply.usage is not None
            else {"input_tokens": 10, "output_tokens": 1}
        )
        return {
            "id": self.owner._next_id("msg"),
            "type": "message",
            "role": "assistant",
            "model": (reply.model if reply is not None else None) or body.get("model", ""),
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": usage,
        }

    def _stream(self, body: JsonDict, reply: MessageReply) -> None:
        assert reply.usage is not None
        start = self._message(body, reply, [], None)
        start["usage"] = {**reply.usage, "output_tokens": 1}
        with self._event_stream() as send:
            send("message_start", {"type": "message_start", "message": start})
            for index, block in enumerate(reply.content):
                for name, data in block_events(index, block, self.owner.chunk_size):
                    send(name, data)
                    if name == "content_block_delta":
                        self.owner.sent_deltas.append((time.time(), data["delta"]))
                        if self.owner.delta_interval_s:
                            time.sleep(self.owner.delta_interval_s)
                if index == 0:
                    send("ping", {"type": "ping"})
            if not reply.content:
                send("ping", {"type": "ping"})
            send(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": reply.stop_reason, "stop_sequence": None},
                    "usage": {"output_tokens": reply.usage["output_tokens"]},
                },
            )
            send("message_stop", {"type": "message_stop"})

    def _stream_error(self, body: JsonDict, reply: StreamErrorReply) -> None:
        start = self._message(body, None, [], None)
        with self._event_stream() as send:
            send("message_start", {"type": "message_start", "message": start})
            send("ping", {"type": "ping"})
            send("error", error_body(reply.error_type, reply.message))

    def _event_stream(self) -> EventStream:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("request-id", self.owner._next_id("req"))
        self.end_headers()
        return EventStream(self)

    def _json(
        self,
        status: int,
        payload: JsonDict,
        headers: Mapping[str, str] | None = None,
        request_id: str | None = None,
    ) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("request-id", request_id or self.owner._next_id("req"))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _error(self, reply: ErrorReply) -> None:
        request_id = self.owner._next_id("req")
        body = {**error_body(reply.error_type, reply.message), "request_id": request_id}
        self._json(reply.status, body, reply.headers, request_id)
