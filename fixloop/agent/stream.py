"""Streaming a model turn into the log in small batches, for live followers.

A provider calls the sink once per fragment (often a few characters). Writing each one would
cost a DynamoDB write per token; :class:`ChunkWriter` buffers them and a background thread
writes a :class:`~fixloop.domain.events.StreamChunk` every ``flush_ms`` (bounded delay) or as
soon as ``flush_bytes`` are waiting (bounded item size), whichever comes first.

Each Model Turn invocation that calls the model claims an *attempt* number for its turn: the
first chunk is a first-writer-wins write at ``t{turn}.1.0.{attempt}.00000``, at the number
after the last one taken (a query); if another invocation took it meanwhile, the next number
is tried. So a retry never mixes its fragments into an earlier attempt's draft, and a
follower shows the latest attempt only. Numbers are taken in order, so while attempt 0 is
free no number is taken: the first attempt of the task (Step Functions' retry count 0)
writes at attempt 0 without the query, and asks only when 0 is taken (a redriven execution
counts from 0 again). A retry always asks: an invocation that died before its first chunk
left its number free, so the retry count is not a number no one has passed. Chunks are
advice for followers: a chunk that cannot be written is logged and dropped, never fails the
turn (the final message is the record).
"""

from __future__ import annotations

import threading
from types import TracebackType

from aws_lambda_powertools import Logger

from fixloop.domain.events import StreamChunk, StreamFragment, stream_position, stream_prefix
from fixloop.llm.protocol import StreamDelta
from fixloop.store.events import EventLog

__all__ = ["ChunkWriter", "WriteStats"]

logger = Logger(child=True)

_MAX_ATTEMPT_CLAIMS = 5


class WriteStats:
    """What a writer did: chunks written and bytes of fragment text, for the bench."""

    def __init__(self) -> None:
        self.chunks = 0
        self.text_bytes = 0
        self.dropped = 0


class ChunkWriter:
    """A :data:`~fixloop.llm.protocol.DeltaSink` that batches fragments into chunk events.

    Use as a context manager around ``model.complete(request, on_delta=writer)``: leaving it
    flushes what is left and stops the flusher thread.
    """

    def __init__(
        self,
        log: EventLog,
        investigation_id: str,
        turn: int,
        *,
        flush_ms: int,
        flush_bytes: int,
        retry_count: int | None = None,
    ) -> None:
        self._log = log
        self._first_attempt = retry_count == 0
        self._investigation_id = investigation_id
        self._turn = turn
        self._interval = flush_ms / 1000
        self._max_bytes = flush_bytes
        self._pending: list[StreamFragment] = []
        self._pending_bytes = 0
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._attempt: int | None = None
        self._next_chunk = 0
        self._thread: threading.Thread | None = None
        self.stats = WriteStats()

    # -- the sink ----------------------------------------------------------------------
    def __call__(self, delta: StreamDelta) -> None:
        if not delta.text:
            return
        size = len(delta.text.encode())
        with self._lock:
            last = self._pending[-1] if self._pending else None
            if last is not None and last.index == delta.index and last.kind == delta.kind:
                last.text += delta.text
            else:
                self._pending.append(
                    StreamFragment(index=delta.index, kind=delta.kind, text=delta.text)
                )
            self._pending_bytes += size
            full = self._pending_bytes >= self._max_bytes
        if full:
            self._wake.set()

    # -- lifecycle ---------------------------------------------------------------------
    def __enter__(self) -> ChunkWriter:
        self._thread = threading.Thread(target=self._run, name="chunk-writer", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closed = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        self._flush(drain=True)

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self._interval)
            self._wake.clear()
            if not self._closed:
                self._flush()

    # -- writing -----------------------------------------------------------------------
    def _take(self) -> list[StreamFragment]:
        """Up to ``flush_bytes`` of pending text, splitting a fragment that is larger."""
        with self._lock:
            taken: list[StreamFragment] = []
            budget = self._max_bytes
            while self._pending and budget > 0:
                head = self._pending[0]
                encoded = head.text.encode()
                if len(encoded) <= budget:
                    taken.append(self._pending.pop(0))
                    budget -= len(encoded)
                    continue
                cut = encoded[:budget].decode(errors="ignore")  # never split a character
                if not cut:
                    break
                taken.append(StreamFragment(index=head.index, kind=head.kind, text=cut))
                head.text = head.text[len(cut) :]
                budget = 0
            self._pending_bytes = sum(len(f.text.encode()) for f in self._pending)
            return taken

    def _flush(self, *, drain: bool = False) -> None:
        """Write one chunk, and more only while a full chunk's worth is waiting (or, with
        ``drain``, until nothing is): fragments arriving during a write wait for the next
        tick instead of each starting a write of their own."""
        with self._write_lock:
            while True:
                fragments = self._take()
                if fragments:
                    self._write(fragments)
                with self._lock:
                    more = self._pending_bytes >= self._max_bytes or (drain and self._pending)
                if not fragments or not more:
                    return

    def _write(self, fragments: list[StreamFragment]) -> None:
        size = sum(len(f.text.encode()) for f in fragments)
        try:
            if self._attempt is None:
                self._claim(fragments)
            else:
                self._log.append(
                    self._investigation_id,
                    stream_position(self._turn, self._attempt, self._next_chunk),
                    self._chunk(fragments),
                )
        except Exception:  # a follower's draft is not worth failing the turn for
            logger.warning("stream chunk not written", exc_info=True)
            self.stats.dropped += 1
            return
        self._next_chunk += 1
        self.stats.chunks += 1
        self.stats.text_bytes += size

    def _claim(self, fragments: list[StreamFragment]) -> None:
        """Write chunk 0 of the first attempt number no earlier invocation has taken (0
        without asking, on the task's first attempt)."""
        if self._first_attempt and self._claim_number(0, fragments):
            return
        last = self._log.last_position(self._investigation_id, stream_prefix(self._turn))
        attempt = 0 if last is None else int(last.split(".")[-2]) + 1
        for _ in range(_MAX_ATTEMPT_CLAIMS):
            if self._claim_number(attempt, fragments):
                return
            attempt += 1
        raise RuntimeError(f"no free stream attempt for turn {self._turn}")

    def _claim_number(self, attempt: int, fragments: list[StreamFragment]) -> bool:
        chunk = StreamChunk(turn=self._turn, attempt=attempt, chunk=0, fragments=fragments)
        if not self._log.append(
            self._investigation_id, stream_position(self._turn, attempt, 0), chunk
        ):
            return False
        self._attempt = attempt
        return True

    def _chunk(self, fragments: list[StreamFragment]) -> StreamChunk:
        assert self._attempt is not None
        return StreamChunk(
            turn=self._turn, attempt=self._attempt, chunk=self._next_chunk, fragments=fragments
        )
