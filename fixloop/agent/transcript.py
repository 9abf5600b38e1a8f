"""The part of the log a model turn reads, kept in memory between turns of a warm process.

Log events never change once written (first writer wins), so a warm Lambda can keep what it
has read and fetch only what is new: each turn queries from the start of the previous turn
(anything written late at a position of the previous or current turn, such as a human
message, is picked up) and reuses what it holds before that. With the latest summary's
``through`` as the lower bound, what is held and read stays bounded by the context budget,
however long the investigation. The turn's DynamoDB reads drop from the whole view (about
0.3 s for 80 large tool results on the embedded runtime, and as many read units) to the last
turn's few events.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from fixloop.domain.events import PHASE_INPUT, position
from fixloop.store import StoredEvent, stores

__all__ = ["clear_transcripts", "read_transcript"]

MAX_INVESTIGATIONS = 16
"""Investigations whose events one process keeps (least recently used dropped first)."""

_held: OrderedDict[str, list[StoredEvent]] = OrderedDict()
_lock = threading.Lock()


def read_transcript(investigation_id: str, *, after: str | None, turn: int) -> list[StoredEvent]:
    """The log after position ``after`` (all of it if None), as model turn ``turn`` needs it."""
    settled_before = position(max(turn - 1, 0), PHASE_INPUT, "")
    with _lock:
        held = _held.get(investigation_id, [])
    kept = [
        e for e in held if (after is None or e.position > after) and e.position < settled_before
    ]
    start = kept[-1].position if kept else after
    events = kept + list(stores().events.read(investigation_id, after=start))
    with _lock:
        _held[investigation_id] = events
        _held.move_to_end(investigation_id)
        while len(_held) > MAX_INVESTIGATIONS:
            _held.popitem(last=False)
    return events


def clear_transcripts() -> None:
    """Forget every held transcript (tests that rewrite a log)."""
    with _lock:
        _held.clear()
