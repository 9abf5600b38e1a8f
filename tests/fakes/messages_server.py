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
with ``request-id`` (and ``retry-after`` when asked) headers. With nothing queued and no
``responder``, a message request gets a 400 marked not retryable, so a test that under-queues
fails at once; a ``responder`` (a function of the request body) answers what the queue does
not, which is how a long scripted session runs against the server.

Prompt caching is accounted as the API documents it (see :class:`PromptCache`): the prompt
is the sequence of blocks tools, system, messages; a block marked ``cache_control`` (at most
4, 1-hour ones before 5-minute ones, else a 400) writes the prefix ending there to the cache
if it reaches the model's minimum cacheable length; a request reads the longest cached
prefix found at a breakpoint or up to 20 blocks before one; a hit refreshes the entry's TTL.
Replies then carry ``cache_read_input_tokens``, ``cache_creation_input_tokens`` (with its
5-minute / 1-hour split in ``cache_creation``) and ``input_tokens`` (what follows the last
breakpoint), unless the test gave the usage itself. Tokens are counted by a fixed local rule
(a block's compact JSON, without its ``cache_control``, over four characters), the same for
counting and for usage, so a count taken before a request matches the usage it reports.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any, Self

from fixloop.httpserver import BackgroundServer
from fixloop.llm.caching import MAX_BREAKPOINTS, min_cacheable_tokens

__all__ = [
    "CacheError",
    "ErrorReply",
    "MessageReply",
    "MessagesServer",
    "PromptCache",
    "RecordedRequest",
    "StreamErrorReply",
    "block_tokens",
    "count_prompt_tokens",
    "prompt_blocks",
]

JsonDict = dict[str, Any]


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it (header names in lower case)."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    usage: JsonDict | None = None
    """For a message request: the prompt-side usage the cache accounting gave it."""


@dataclass(frozen=True)
class MessageReply:
    """An assistant message to answer with."""

    content: list[JsonDict]
    stop_reason: str
    usage: JsonDict | None = None
    """None: computed by the server (cache accounting, and the content's size for output)."""
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
Responder = Callable[[JsonDict], Reply]

LOOKBACK_BLOCKS = 20
"""How many blocks before a breakpoint the API looks for a cache hit."""
TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}


class CacheError(Exception):
    """A request the API would refuse for its cache_control markers (a 400)."""


def block_tokens(block: Any) -> int:
    """The server's token count of one prompt block (its cache_control not counted)."""
    if isinstance(block, dict) and "cache_control" in block:
        block = {k: v for k, v in block.items() if k != "cache_control"}
    return -(-len(json.dumps(block, separators=(",", ":"), sort_keys=True)) // 4)


def prompt_blocks(body: JsonDict) -> list[tuple[str, Any]]:
    """The request's prompt as the cache sees it: tools, then system blocks, then every
    message's content blocks (a string being one text block), in order, each with where it
    sits ("tools", "system" or the message's role: part of what a cached prefix matches)."""
    blocks: list[tuple[str, Any]] = [("tools", t) for t in body.get("tools") or []]
    system = body.get("system")
    if isinstance(system, str):
        blocks.append(("system", {"type": "text", "text": system}))
    elif isinstance(system, list):
        blocks.extend(("system", b) for b in system)
    for message in body.get("messages") or []:
        if not isinstance(message, dict):
            continue
        role, content = str(message.get("role")), message.get("content")
        if isinstance(content, str):
            blocks.append((role, {"type": "text", "text": content}))
        elif isinstance(content, list):
            blocks.extend((role, b) for b in content)
    return blocks


def count_prompt_tokens(body: JsonDict) -> int:
    return sum(block_tokens(b) for _, b in prompt_blocks(body))


@dataclass
class _Entry:
    tokens: int
    ttl: str
    expires_at: float


class PromptCache:
    """The API's prompt cache: entries keyed by (model, exact prefix), with a TTL."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def account(self, body: JsonDict) -> JsonDict:
        """Read and write the cache for one request; its prompt-side usage."""
        model = str(body.get("model", ""))
        blocks = prompt_blocks(body)
        marks: list[tuple[int, str]] = []
        for index, (_, block) in enumerate(blocks):
            control = block.get("cache_control") if isinstance(block, dict) else None
            if control:
                ttl = str(control.get("ttl", "5m"))
                if ttl not in TTL_SECONDS:
                    raise CacheError(f"cache_control.ttl must be '5m' or '1h', got {ttl!r}")
                marks.append((index, ttl))
        if len(marks) > MAX_BREAKPOINTS:
            raise CacheError(
                f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. "
                f"Found {len(marks)}."
            )
        for (_, first), (_, second) in itertools.pairwise(marks):
            if first == "5m" and second == "1h":
                raise CacheError(
                    "a cache_control block with ttl '1h' must come before any with ttl '5m'"
                )
        cumulative: list[int] = []
        keys: list[str] = []
        digest = hashlib.sha256(model.encode())
        total = 0
        for where, block in blocks:
            total += block_tokens(block)
            cumulative.append(total)
            clean = (
                {k: v for k, v in block.items() if k != "cache_control"}
                if isinstance(block, dict)
                else block
            )
            digest.update(where.encode() + b"\0")
            digest.update(json.dumps(clean, sort_keys=True, separators=(",", ":")).encode())
            keys.append(digest.copy().hexdigest())

        now = self.clock()
        with self._lock:
            hit = -1
            for index, _ in marks:
                for candidate in range(index, max(-1, index - LOOKBACK_BLOCKS - 1), -1):
                    entry = self._entries.get(keys[candidate])
                    if entry is not None and entry.expires_at > now and candidate > hit:
                        hit = candidate
                        break
            if hit >= 0:
                entry = self._entries[keys[hit]]
                entry.expires_at = now + TTL_SECONDS[entry.ttl]
            read = cumulative[hit] if hit >= 0 else 0
            written = {"5m": 0, "1h": 0}
            done = read
            minimum = min_cacheable_tokens(model)
            for index, ttl in marks:
                if index <= hit or cumulative[index] < minimum:
                    continue
                self._entries[keys[index]] = _Entry(cumulative[index], ttl, now + TTL_SECONDS[ttl])
                written[ttl] += cumulative[index] - done
                done = cumulative[index]
        creation = written["5m"] + written["1h"]
        return {
            "input_tokens": total - read - creation,
            "cache_creation_input_tokens": creation,
            "cache_read_input_tokens": read,
            "cache_creation": {
                "ephemeral_5m_input_tokens": written["5m"],
                "ephemeral_1h_input_tokens": written["1h"],
            },
        }

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


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
        if path == "/v1/messages" and isinstance(body, dict):
            try:
                usage = self.owner.cache.account(body)
            except CacheError as exc:
                refusal = str(exc)
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
        if isinstance(reply, MessageReply) and reply.usage is None:
            output = max(1, sum(block_tokens(b) for b in reply.content))
            reply = MessageReply(
                reply.content, reply.stop_reason, {**usage, "output_tokens": output}, reply.model
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
