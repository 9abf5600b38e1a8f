"""What the local Messages API records of a request and the replies a test queues."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ErrorReply",
    "JsonDict",
    "MessageReply",
    "RecordedRequest",
    "Reply",
    "Responder",
    "StreamErrorReply",
    "error_body",
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


def error_body(error_type: str, message: str) -> JsonDict:
    """The documented error shape, as a body or an ``error`` event."""
    return {"type": "error", "error": {"type": error_type, "message": message}}
