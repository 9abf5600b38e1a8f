"""Batching model fragments into the log: bounded item size, bounded delay, attempts."""

from __future__ import annotations

import secrets
import threading
import time
from typing import Any

import pytest

from fixloop.agent.stream import ChunkWriter
from fixloop.domain.events import StreamChunk, stream_prefix
from fixloop.llm.protocol import StreamDelta
from fixloop.store import stores
from tests.runtime import LocalRuntime


def _inv() -> str:
    return f"inv-stream-{secrets.token_hex(4)}"


def _chunks(inv: str, turn: int) -> list[tuple[str, StreamChunk]]:
    out = []
    for stored in stores().events.read(inv):
        if isinstance(stored.event, StreamChunk) and stored.event.turn == turn:
            out.append((stored.position, stored.event))
    return out


def test_a_burst_is_cut_into_chunks_no_larger_than_the_limit(runtime: LocalRuntime) -> None:
    # Given a writer flushing at 4 KB, and 60 KB of fragments arriving at once (text, then a
    # tool input, with multi-byte characters)
    inv = _inv()
    words = [f"mot{i}é " for i in range(6000)]
    with ChunkWriter(stores().events, inv, 3, flush_ms=10_000, flush_bytes=4096) as writer:
        for w in words:
            writer(StreamDelta(index=0, kind="text", text=w))
        writer(StreamDelta(index=1, kind="tool_input", text='{"path": "app.py"}'))
    # Then every chunk holds at most 4 KB of text, and in log order they give back exactly
    # what was streamed, block by block
    chunks = _chunks(inv, 3)
    assert len(chunks) > 10
    assert all(sum(len(f.text.encode()) for f in c.fragments) <= 4096 for _, c in chunks)
    assert [p for p, _ in chunks] == sorted(p for p, _ in chunks)
    assert [c.chunk for _, c in chunks] == list(range(len(chunks)))
    text = "".join(f.text for _, c in chunks for f in c.fragments if f.index == 0)
    assert text == "".join(words)
    tool = "".join(f.text for _, c in chunks for f in c.fragments if f.kind == "tool_input")
    assert tool == '{"path": "app.py"}'
    assert writer.stats.chunks == len(chunks)


def test_a_slow_stream_is_written_while_it_is_still_coming(runtime: LocalRuntime) -> None:
    # Given a writer flushing every 100 ms and a model producing a fragment every 20 ms
    inv = _inv()
    seen_mid_stream: list[int] = []
    with ChunkWriter(stores().events, inv, 1, flush_ms=100, flush_bytes=8192) as writer:
        for i in range(40):
            writer(StreamDelta(index=0, kind="thinking", text=f"step {i}. "))
            time.sleep(0.02)
            if i == 30:
                seen_mid_stream.append(len(_chunks(inv, 1)))
    # Then chunks were in the log before the stream ended, a few per second, not one per
    # fragment
    assert seen_mid_stream[0] >= 3
    total = len(_chunks(inv, 1))
    assert 4 <= total <= 15


def test_a_retried_turn_streams_as_a_new_attempt(runtime: LocalRuntime) -> None:
    # Given a turn whose first invocation streamed, then died before its final message
    inv = _inv()
    with ChunkWriter(stores().events, inv, 2, flush_ms=1000, flush_bytes=8192) as first:
        first(StreamDelta(index=0, kind="text", text="first try"))
    # When the retry streams the same turn (twice, concurrently, as a stuck one might)
    writers = [
        ChunkWriter(stores().events, inv, 2, flush_ms=1000, flush_bytes=8192) for _ in range(2)
    ]

    def run(w: ChunkWriter, text: str) -> None:
        with w:
            w(StreamDelta(index=0, kind="text", text=text))

    threads = [threading.Thread(target=run, args=(w, f"retry {i}")) for i, w in enumerate(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Then each invocation wrote under its own attempt number; none overwrote another
    chunks = _chunks(inv, 2)
    by_attempt = {c.attempt: "".join(f.text for f in c.fragments) for _, c in chunks}
    assert by_attempt[0] == "first try"
    assert sorted(by_attempt) == [0, 1, 2]
    assert {by_attempt[1], by_attempt[2]} == {"retry 0", "retry 1"}
    assert all(p.startswith(stream_prefix(2)) for p, _ in chunks)


def test_a_first_attempt_claims_attempt_zero_without_asking(
    runtime: LocalRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a count of the queries for the last attempt taken
    inv = _inv()
    log = stores().events
    asked: list[str] = []
    last_position = log.last_position

    def counted(*args: Any, **kwargs: Any) -> str | None:
        asked.append("query")
        return last_position(*args, **kwargs)

    monkeypatch.setattr(log, "last_position", counted)

    def stream(text: str, retry_count: int | None) -> None:
        with ChunkWriter(
            log, inv, 4, flush_ms=1000, flush_bytes=8192, retry_count=retry_count
        ) as w:
            w(StreamDelta(index=0, kind="text", text=text))

    # When the task's first attempt streams, then it writes attempt 0 without a query
    stream("first", 0)
    assert asked == []
    # When a redriven execution's first attempt streams (its retry count is 0 again), or a
    # retry, or a caller that does not know, then each asks and takes the next number
    stream("redriven", 0)
    stream("retried", 1)
    stream("unknown", None)
    assert asked == ["query"] * 3
    by_attempt = {c.attempt: "".join(f.text for f in c.fragments) for _, c in _chunks(inv, 4)}
    assert by_attempt == {0: "first", 1: "redriven", 2: "retried", 3: "unknown"}
