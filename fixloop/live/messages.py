"""What travels over the live WebSocket, in both directions.

Client to server (API Gateway routes on ``action``; an action without a route of its own,
such as ``subscribe_list``, reaches the same handler through ``$default``)::

    {"action": "subscribe", "investigation_id": "...", "after": "t000004.9"}   # after optional
    {"action": "send", "investigation_id": "...", "text": "..."}
    {"action": "list"}                      # the list, once
    {"action": "subscribe_list"}            # the list, then a row each time one changes

Server to client, one JSON object per WebSocket message::

    {"kind": "event", "investigation_id", "position", "event": {...}, "view": {...}?,
     "replay": true?}
    {"kind": "part", "investigation_id", "position", "part": i, "parts": n, "data": "..."}
    {"kind": "event", ..., "truncated": true}     # a shortened copy of a huge event
    {"kind": "subscribed", "investigation_id", "after", "replayed": n}
    {"kind": "investigation", "investigation": {...}}   # a summary, or a changed list row
    {"kind": "investigations", "items": [...]}        # the list
    {"kind": "sent", "investigation_id"} / {"kind": "error", "message"}

``view`` is what the page shows of the event (:mod:`fixloop.live.event_views`): a signal's
occurrences and console link, an assistant message's blocks with a card per tool call, a tool
result's fields. Events without one are shown from their own fields. ``investigation`` is
:func:`fixloop.live.views.investigation_view` for a subscriber of that investigation (after
the replay, and from the fan-out when an event changes it; keep the one with the greatest
``as_of``), and :func:`~fixloop.live.views.investigation_row` for a list subscriber.

API Gateway takes at most 128 KB in one message and clients send frames of at most 32 KB; a
message above :data:`FRAME_BYTES` is split into ``part`` messages that the client joins by
(position, part). An event whose JSON is larger than :data:`MAX_SPLIT_BYTES` (only tool output
or bodies kept in S3 get there) is sent without its view, and if still too large with its
long strings cut: the client shows it with a note and the full event stays readable in the
log (MCP ``read_investigation``).
A subscriber sees replayed events (``replay: true``) and live ones interleaved until the
``subscribed`` acknowledgement; a client delivers replayed ones at once, holds live ones until
the acknowledgement, then delivers those it has not seen in position order (see
``fixloop.live.client`` and ``web/js/connection.js``).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, Field

from fixloop.live.event_views import event_view
from fixloop.store.events import StoredEvent

__all__ = [
    "FRAME_BYTES",
    "MAX_SPLIT_BYTES",
    "SendRequest",
    "SubscribeListRequest",
    "SubscribeRequest",
    "event_messages",
    "investigation_message",
    "resume_after",
]

FRAME_BYTES = 30_000
"""Largest message sent whole: under the 32 KB frame limit with room for the envelope."""
MAX_SPLIT_BYTES = 240_000
"""Largest event sent in parts (8 parts); anything larger is sent shortened."""
_TRUNCATED_STRING = 2_000


class SubscribeRequest(BaseModel):
    action: Literal["subscribe"] = "subscribe"
    investigation_id: str = Field(min_length=1, max_length=200)
    after: str | None = Field(default=None, max_length=200)
    """Replay the log strictly after this position, then go live; None replays it all."""


class SubscribeListRequest(BaseModel):
    action: Literal["subscribe_list"] = "subscribe_list"


class SendRequest(BaseModel):
    action: Literal["send"] = "send"
    investigation_id: str = Field(min_length=1, max_length=200)
    text: str = Field(min_length=1, max_length=7_000)
    """At most 7,000 characters: with the envelope, a message of any characters stays under
    API Gateway's 32 KB frame limit."""


def event_messages(stored: StoredEvent, *, replay: bool = False) -> list[str]:
    """The WebSocket messages that carry one log event to a subscriber (``replay``: sent by
    ``subscribe``, not by the fan-out)."""
    event = stored.event.model_dump(mode="json")
    envelope: dict[str, Any] = {
        "kind": "event",
        "investigation_id": stored.investigation_id,
        "position": stored.position,
        "event": event,
    }
    view = event_view(stored.event)
    if view is not None:
        envelope["view"] = view
    if replay:
        envelope["replay"] = True
    whole = json.dumps(envelope, ensure_ascii=False)
    size = len(whole.encode())
    if size <= FRAME_BYTES:
        return [whole]
    if size > MAX_SPLIT_BYTES and view is not None:  # the event without its view
        del envelope["view"]
        whole = json.dumps(envelope, ensure_ascii=False)
        size = len(whole.encode())
        if size <= FRAME_BYTES:
            return [whole]
    if size > MAX_SPLIT_BYTES:
        envelope["event"] = _shorten(event)
        envelope["truncated"] = True
        whole = json.dumps(envelope, ensure_ascii=False)
        if len(whole.encode()) <= FRAME_BYTES:
            return [whole]
    pieces = _split(whole, FRAME_BYTES - 500)
    return [
        json.dumps(
            {
                "kind": "part",
                "investigation_id": stored.investigation_id,
                "position": stored.position,
                "part": i,
                "parts": len(pieces),
                "data": piece,
            },
            ensure_ascii=False,
        )
        for i, piece in enumerate(pieces)
    ]


def investigation_message(summary: dict[str, Any]) -> str:
    """An investigation's summary (or list row) as a message; always one small frame."""
    return json.dumps({"kind": "investigation", "investigation": summary}, ensure_ascii=False)


def _split(text: str, max_bytes: int) -> list[str]:
    """``text`` in pieces of at most ``max_bytes`` UTF-8 bytes once JSON-escaped."""
    pieces: list[str] = []
    start = 0
    while start < len(text):
        end = min(len(text), start + max_bytes // 2)
        while len(json.dumps(text[start:end], ensure_ascii=False).encode()) > max_bytes:
            end = start + max(1, (end - start) // 2)
        pieces.append(text[start:end])
        start = end
    return pieces


def _shorten(value: Any) -> Any:
    if isinstance(value, str) and len(value) > _TRUNCATED_STRING:
        cut = len(value) - _TRUNCATED_STRING
        return value[:_TRUNCATED_STRING] + f"\n… [{cut} more characters in the log]"
    if isinstance(value, dict):
        return {k: _shorten(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shorten(v) for v in value]
    return value


def resume_after(last_seen: str | None) -> str | None:
    """Where a reconnecting follower resumes: the start of the turn it last saw.

    Tool results of one turn are written in parallel and can land out of position order,
    and messages for the next turn can arrive while a turn runs; re-reading the whole turn of
    the greatest position seen (and dropping positions already seen) misses none of them.
    """
    if last_seen is None:
        return None
    turn = int(last_seen[1:7])
    return f"t{turn - 1:06d}.9" if turn > 0 else None
