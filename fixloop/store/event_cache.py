"""A bounded cache of event bodies, safe because the log's events never change.

Every write to the log is first-writer-wins and nothing rewrites or deletes an event, so the
body stored at a position, once seen, is the body a consistent read returns forever. A warm
process reads back the events it wrote or read (Run Tool looks up the assistant message Model
Turn wrote, Prepare the previous turn's message): those reads need no request. Only bodies
are kept, and decoded on each use, so callers never share a mutable event. Absent positions
are never cached: another writer may fill them at any time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Final

MAX_ENTRY_CHARS: Final = 64_000
MAX_TOTAL_CHARS: Final = 8_000_000


class EventBodyCache:
    """Least recently used bodies by (investigation, position), bounded in total size."""

    def __init__(
        self, *, max_entry_chars: int = MAX_ENTRY_CHARS, max_total_chars: int = MAX_TOTAL_CHARS
    ) -> None:
        self._max_entry = max_entry_chars
        self._max_total = max_total_chars
        self._bodies: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._total = 0
        self._lock = threading.Lock()

    def get(self, investigation_id: str, position: str) -> str | None:
        key = (investigation_id, position)
        with self._lock:
            body = self._bodies.get(key)
            if body is not None:
                self._bodies.move_to_end(key)
            return body

    def put(self, investigation_id: str, position: str, body: str) -> None:
        if len(body) > self._max_entry:
            return
        key = (investigation_id, position)
        with self._lock:
            if key in self._bodies:
                self._bodies.move_to_end(key)
                return
            self._bodies[key] = body
            self._total += len(body)
            while self._total > self._max_total:
                _, evicted = self._bodies.popitem(last=False)
                self._total -= len(evicted)
