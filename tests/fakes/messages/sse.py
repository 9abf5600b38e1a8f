"""Server-sent events as the Messages API streams them: each content block as a start,
its deltas, and a stop."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Self

from tests.fakes.messages.replies import JsonDict

__all__ = ["EventStream", "block_events"]


def block_events(index: int, block: JsonDict, chunk_size: int) -> Iterator[tuple[str, JsonDict]]:
    """The events of content block ``index``: text, thinking and tool input in fragments of
    ``chunk_size`` characters."""
    kind = block.get("type")
    if kind == "text":
        deltas = [{"type": "text_delta", "text": c} for c in _chunks(chunk_size, block["text"])]
        start: JsonDict = {"type": "text", "text": ""}
    elif kind == "thinking":
        deltas = [
            {"type": "thinking_delta", "thinking": c}
            for c in _chunks(chunk_size, block["thinking"])
        ]
        deltas.append({"type": "signature_delta", "signature": block.get("signature", "")})
        start = {"type": "thinking", "thinking": "", "signature": ""}
    elif kind == "tool_use":
        partial = json.dumps(block.get("input", {}))
        # The API opens with an empty fragment, then sends the JSON in pieces.
        deltas = [{"type": "input_json_delta", "partial_json": ""}]
        deltas += [
            {"type": "input_json_delta", "partial_json": c} for c in _chunks(chunk_size, partial)
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


def _chunks(chunk_size: int, text: str) -> list[str]:
    size = max(1, chunk_size)
    return [text[i : i + size] for i in range(0, len(text), size)]


class EventStream:
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
