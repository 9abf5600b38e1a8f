"""What a channel's own credentials say about where fixloop is installed, kept an hour.

When the workspace (Slack) or organization (Linear) whose people may reach the agent is not
configured, the channel asks the platform with the credentials it already posts with
(:mod:`fixloop.channels.slack`, :mod:`fixloop.channels.linear`). The answer changes only when
the app is installed elsewhere, so a process (a Lambda execution environment) keeps it for
:data:`LEARNED_SECONDS`: one lookup an hour, not one per message. A lookup that fails is not
kept, so the next message asks again.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

__all__ = ["LEARNED_SECONDS", "Learned", "credential_key", "forget_all"]

LEARNED_SECONDS = 3600.0
_ALL: list[Learned[Any]] = []
T = TypeVar("T")


class Learned(Generic[T]):
    """Answers by key, each learned once and kept ``seconds`` (by ``clock``)."""

    def __init__(
        self, seconds: float = LEARNED_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._seconds = seconds
        self._clock = clock
        self._answers: dict[str, tuple[T, float]] = {}
        # One lookup at a time: threads that ask meanwhile wait for it instead of asking too.
        self._lock = threading.Lock()
        _ALL.append(self)

    def get(self, key: str, learn: Callable[[], T]) -> T:
        """The answer kept for ``key``, or what ``learn`` returns now (kept if it returns;
        whatever it raises reaches the caller and nothing is kept)."""
        with self._lock:
            kept = self._answers.get(key)
            now = self._clock()
            if kept is not None and now < kept[1]:
                return kept[0]
            answer = learn()
            self._answers[key] = (answer, self._clock() + self._seconds)
            return answer

    def clear(self) -> None:
        with self._lock:
            self._answers.clear()


def credential_key(*parts: str) -> str:
    """A key for answers learned with a credential at an address (the credential itself is
    not kept as a key)."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def forget_all() -> None:
    """Forget every answer of this process (tests, after changing what the platforms say)."""
    for learned in _ALL:
        learned.clear()
