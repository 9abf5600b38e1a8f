"""A follower of the live WebSocket in Python (tests, bench; the web view does the same in JS).

It joins split messages, drops positions it has already seen (replay and live overlap by
design) and reconnects from :func:`~fixloop.live.messages.resume_after` of what it saw.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from fixloop.live.messages import resume_after

__all__ = ["LiveFollower", "Received"]


@dataclass
class Received:
    position: str
    event: dict[str, Any]
    at: float
    """time.time() when it arrived."""
    truncated: bool = False
    view: dict[str, Any] | None = None
    """What the live view shows of it (fixloop.live.event_views), when it has a view."""


@dataclass
class LiveFollower:
    ws_url: str
    """``ws://host/ws?token=...`` (or the API Gateway wss URL with its token)."""
    investigation_id: str
    events: list[Received] = field(default_factory=list)
    duplicates: int = 0
    """Messages for positions already received (expected around a subscribe)."""
    other: list[dict[str, Any]] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set)
    _parts: dict[str, dict[int, str]] = field(default_factory=dict)
    _ws: ClientConnection | None = None
    _held: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    _replaying: bool = False

    @property
    def positions(self) -> list[str]:
        return [r.position for r in self.events]

    def connect(self, after: str | None = None, *, resume: bool = False) -> None:
        """Open the socket and subscribe after ``after`` (or, with ``resume``, from where
        the events received so far say)."""
        if resume:
            after = resume_after(max(self._seen) if self._seen else None)
        self._replaying = True
        self._ws = connect(self.ws_url, open_timeout=10, max_size=2**20).__enter__()
        self.send(
            {"action": "subscribe", "investigation_id": self.investigation_id, "after": after}
        )

    def send(self, message: dict[str, Any]) -> None:
        assert self._ws is not None, "not connected"
        self._ws.send(json.dumps(message))

    def close(self) -> None:
        if self._ws is not None:
            self._ws.close()
            self._ws = None

    def pump(self, timeout_s: float) -> None:
        """Receive for up to ``timeout_s`` seconds."""
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            if not self._receive(left):
                return

    def until(self, predicate: Any, timeout_s: float = 30) -> None:
        """Receive until ``predicate(self)`` holds; TimeoutError otherwise."""
        deadline = time.monotonic() + timeout_s
        while not predicate(self):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"live follower: condition not met in {timeout_s}s")
            self._receive(min(left, 0.5))

    def _receive(self, timeout_s: float) -> bool:
        assert self._ws is not None, "not connected"
        try:
            text = self._ws.recv(timeout=timeout_s)
        except TimeoutError:
            return True
        except ConnectionClosed:
            return False
        self._handle(json.loads(text))
        return True

    def _handle(self, msg: dict[str, Any]) -> None:
        kind = msg.get("kind")
        if kind == "part":
            parts = self._parts.setdefault(msg["position"], {})
            parts[int(msg["part"])] = msg["data"]
            if len(parts) < int(msg["parts"]):
                return
            del self._parts[msg["position"]]
            msg = json.loads("".join(parts[i] for i in range(len(parts))))
            kind = msg.get("kind")
        if kind == "subscribed" and msg.get("investigation_id") == self.investigation_id:
            self._replaying = False
            for _, held in sorted(self._held, key=lambda h: h[0]):
                self._deliver(held)
            self._held.clear()
        if kind != "event":
            self.other.append(msg)
            return
        if msg["investigation_id"] != self.investigation_id:
            return
        if self._replaying and not msg.get("replay"):
            self._held.append((msg["position"], msg))  # live, during the replay: hold it
            return
        self._deliver(msg)

    def _deliver(self, msg: dict[str, Any]) -> None:
        position = msg["position"]
        if position in self._seen:
            self.duplicates += 1
            return
        self._seen.add(position)
        self.events.append(
            Received(
                position, msg["event"], time.time(), bool(msg.get("truncated")), msg.get("view")
            )
        )
