"""A local HTTP server speaking the Anthropic Messages API, for tests of the real SDK.

Tests queue the replies the server gives, in order, then point the SDK at ``base_url``::

    with MessagesServer() as server:
        server.enqueue([{"type": "text", "text": "Hello"}])
        client = anthropic.Anthropic(api_key="test", base_url=server.base_url)
        ...
        assert server.requests[0].body["model"] == "claude-test"

``POST /v1/messages`` answers with JSON, or with server-sent events when the body says
``"stream": true`` (message_start, content_block_start / _delta / _stop per block with
text_delta, thinking_delta, signature_delta and input_json_delta fragments, a ping,
message_delta, message_stop). ``POST /v1/messages/count_tokens`` answers ``{"input_tokens":
N}``. Error replies use the documented shape ``{"type": "error", "error": {"type", "message"}}``
with ``request-id`` (and ``retry-after`` when asked) headers. With nothing queued, a message
request gets a 400 marked not retryable, so a test that under-queues fails at once.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any, Self

from fixloop.httpserver import BackgroundServer

__all__ = ["ErrorReply", "MessageReply", "MessagesServer", "RecordedRequest", "StreamErrorReply"]

JsonDict = dict[str, Any]


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it (header names in lower case)."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass(frozen=True)
class MessageReply:
    """An assistant message to answer with."""

    content: list[JsonDict]
    stop_reason: str
    usage: JsonDict
    model: str | None = None


@dataclass(frozen=True)
class ErrorReply:
    """An HTTP error to answer with."""

    status: int
    error_type: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StreamErrorReply:
    """A stream that starts (200, message_start) then fails with an ``error`` event."""

    error_type: str
    message: str


Reply = MessageReply | ErrorReply | StreamErrorReply


class MessagesServer(BackgroundServer):
    """A scripted Messages API on 127.0.0.1, served from a background thread."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        chunk_size: int = 8,
        delta_interval_s: float = 0.0,
    ) -> None:
        self.requests: list[RecordedRequest] = []
        self.chunk_size = chunk_size
        """How many characters each text, thinking or partial_json fragment carries."""
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
        ``usage`` fields default to 10 input and 5 output tokens and no cache activity;
        ``model`` defaults to the model the request named.
        """
        blocks = [dict(block) for block in content]
        for block in blocks:
            if block.get("type") == "tool_use" and not block.get("id"):
                block["id"] = f"toolu_srv{next(self._ids):021d}"
        if stop_reason is None:
            calls_tool = any(block.get("type") == "tool_use" for block in blocks)
            stop_reason = "tool_use" if calls_tool else "end_turn"
        full_usage = {
            "input_tokens": 10,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 5,
            **(usage or {}),
        }
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

    def _pop(self) -> Reply | None:
        with self._lock:
            return self._replies.popleft() if self._replies else None

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

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
        self.owner._record(
            RecordedRequest(
                method="POST",
                path=path,
                headers={name.lower(): value for name, value in self.headers.items()},
                body=body,
            )
        )
        if not isinstance(body, dict):
            self._error(ErrorReply(400, "invalid_request_error", "body must be a JSON object"))
        elif path == "/v1/messages/count_tokens":
            self._json(200, {"input_tokens": max(1, len(json.dumps(body)) // 4)})
        elif path == "/v1/messages":
            self._messages(body)
        else:
            self._error(ErrorReply(404, "not_found_error", f"no route for POST {path}"))

    def do_GET(self) -> None:
        self._error(ErrorReply(404, "not_found_error", f"no route for GET {self.path}"))

    # -- replies -----------------------------------------------------------------------------

    def _messages(self, body: JsonDict) -> None:
        reply = self.owner._pop()
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
        usage = dict(reply.usage) if reply is not None else {"input_tokens": 10, "output_tokens": 1}
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
        start = self._message(body, reply, [], None)
        start["usage"] = {**reply.usage, "output_tokens": 1}
        with self._event_stream() as send:
            send("message_start", {"type": "message_start", "message": start})
            for index, block in enumerate(reply.content):
                for name, data in self._block_events(index, block):
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

    def _block_events(self, index: int, block: JsonDict) -> Iterator[tuple[str, JsonDict]]:
        kind = block.get("type")
        if kind == "text":
            deltas = [{"type": "text_delta", "text": c} for c in self._chunks(block["text"])]
            start: JsonDict = {"type": "text", "text": ""}
        elif kind == "thinking":
            deltas = [
                {"type": "thinking_delta", "thinking": c} for c in self._chunks(block["thinking"])
            ]
            deltas.append({"type": "signature_delta", "signature": block.get("signature", "")})
            start = {"type": "thinking", "thinking": "", "signature": ""}
        elif kind == "tool_use":
            partial = json.dumps(block.get("input", {}))
            # The API opens with an empty fragment, then sends the JSON in pieces.
            deltas = [{"type": "input_json_delta", "partial_json": ""}]
            deltas += [
                {"type": "input_json_delta", "partial_json": c} for c in self._chunks(partial)
            ]
            start = {**block, "input": {}}
        else:  # redacted_thinking and anything else arrive whole, without deltas
            deltas = []
            start = block
        yield (
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": start},
        )
        for delta in deltas:
            yield (
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": delta},
            )
        yield "content_block_stop", {"type": "content_block_stop", "index": index}

    def _stream_error(self, body: JsonDict, reply: StreamErrorReply) -> None:
        start = self._message(body, None, [], None)
        with self._event_stream() as send:
            send("message_start", {"type": "message_start", "message": start})
            send("ping", {"type": "ping"})
            send("error", _error_body(reply.error_type, reply.message))

    def _chunks(self, text: str) -> list[str]:
        size = max(1, self.owner.chunk_size)
        return [text[i : i + size] for i in range(0, len(text), size)]

    def _event_stream(self) -> _EventStream:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("request-id", self.owner._next_id("req"))
        self.end_headers()
        return _EventStream(self)

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
        body = {**_error_body(reply.error_type, reply.message), "request_id": request_id}
        self._json(reply.status, body, reply.headers, request_id)


class _EventStream:
    """Writes server-sent events as HTTP/1.1 chunks, one chunk an event, flushed as it goes."""

    def __init__(self, handler: BaseHTTPRequestHandler) -> None:
        self._wfile = handler.wfile

    def __call__(self, event: str, data: JsonDict) -> None:
        self._chunk(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())

    def _chunk(self, payload: bytes) -> None:
        self._wfile.write(f"{len(payload):X}\r\n".encode() + payload + b"\r\n")
        self._wfile.flush()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._wfile.write(b"0\r\n\r\n")
        self._wfile.flush()


def _error_body(error_type: str, message: str) -> JsonDict:
    return {"type": "error", "error": {"type": error_type, "message": message}}
