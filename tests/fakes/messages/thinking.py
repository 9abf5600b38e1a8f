"""Signed thinking blocks: what the local Messages API issued, so it can check what comes back.

The API signs every ``thinking`` block it returns (the ``signature`` field, sent as a
``signature_delta`` when streaming) and refuses a block whose signature does not match its
text. The local server does the same with an HMAC of the thinking text under a fixed key, so
a test can also build a valid history by hand with :func:`sign_thinking`. A block queued by a
test with a signature of its own keeps it (the test scripted what the API said) and that exact
pair counts as issued.

The server also remembers, for each block it issued, two things the API binds to it:

* the tool calls of the same reply, to tell when the latest assistant message of a tool-use
  loop comes back without its thinking blocks or with them changed;
* the block's prefix (tools, system, every earlier message and the reply's earlier blocks,
  ``cache_control`` aside), for the prefix check of preserved thinking: on the models that run
  it, a block whose prefix changed since it was produced is invalid, and so is every later one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["THINKING_TYPES", "Located", "ThinkingLedger", "sign_thinking", "thinking_blocks"]

JsonDict = dict[str, Any]

THINKING_TYPES = frozenset({"thinking", "redacted_thinking"})
_KEY = b"fixloop local messages server"


def sign_thinking(thinking: str) -> str:
    """The signature the local server gives a thinking block with this text."""
    digest = hmac.new(_KEY, thinking.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _key(block: JsonDict) -> str:
    """What identifies a thinking block: its signature, or a redacted block's data."""
    if block.get("type") == "redacted_thinking":
        return "data:" + str(block.get("data", ""))
    return "sig:" + str(block.get("signature", ""))


@dataclass(frozen=True)
class Located:
    """A thinking block of a request, where it sits, and the digest of its prefix."""

    message: int
    index: int
    block: JsonDict
    prefix: str


def _blocks(content: Any) -> list[Any]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return list(content) if isinstance(content, list) else []


def _entries(body: JsonDict, reply: list[JsonDict]) -> Iterator[tuple[int, int, str, Any]]:
    """(message, index, role, block) for tools and system (message -1), every message's
    blocks, and the reply's blocks as message ``len(messages)``."""
    head = [("tools", t) for t in body.get("tools") or []]
    head += [("system", b) for b in _blocks(body.get("system"))]
    for index, (where, block) in enumerate(head):
        yield -1, index, where, block
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    for number, message in enumerate(messages):
        for index, block in enumerate(_blocks(message.get("content"))):
            yield number, index, str(message.get("role")), block
    for index, block in enumerate(reply):
        yield len(messages), index, "assistant", block


def _walk(body: JsonDict, reply: list[JsonDict]) -> Iterator[tuple[int, int, Any, str]]:
    """Every prompt block in order, with the digest of everything before it
    (``cache_control`` markers left out: moving a breakpoint changes no content)."""
    digest = hashlib.sha256()
    for message, index, role, block in _entries(body, reply):
        yield message, index, block, digest.hexdigest()
        clean = block
        if isinstance(block, dict):
            clean = {k: v for k, v in block.items() if k != "cache_control"}
        digest.update(role.encode() + b"\0" + json.dumps(clean, sort_keys=True).encode())


def thinking_blocks(body: JsonDict) -> list[Located]:
    """The request's thinking and redacted_thinking blocks, in order, with their prefixes."""
    return [
        Located(message, index, block, prefix)
        for message, index, block, prefix in _walk(body, [])
        if message >= 0 and isinstance(block, dict) and block.get("type") in THINKING_TYPES
    ]


class ThinkingLedger:
    """The thinking blocks the server issued: their signatures, the tool calls they came
    with, and the prefixes they were produced after."""

    def __init__(self) -> None:
        self._pairs: set[tuple[str, str]] = set()
        self._with_call: dict[str, list[JsonDict]] = {}
        self._prefixes: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def issue(self, body: JsonDict, content: list[JsonDict]) -> list[JsonDict]:
        """The reply to ``body`` as sent: thinking blocks without a signature get one; every
        thinking block is recorded with its prefix and against the reply's tool calls."""
        out = [
            {**b, "signature": sign_thinking(str(b.get("thinking", "")))}
            if b.get("type") == "thinking" and not b.get("signature")
            else b
            for b in content
        ]
        thinking = [dict(b) for b in out if b.get("type") in THINKING_TYPES]
        replied = len([m for m in body.get("messages") or [] if isinstance(m, dict)])
        with self._lock:
            for message, _, block, prefix in _walk(body, out):
                if message == replied and block.get("type") in THINKING_TYPES:
                    self._prefixes.setdefault(_key(block), set()).add(prefix)
                    if block["type"] == "thinking":
                        self._pairs.add((str(block.get("thinking")), str(block.get("signature"))))
            for block in out:
                if block.get("type") == "tool_use" and block.get("id"):
                    self._with_call[str(block["id"])] = thinking
        return out

    def valid(self, block: JsonDict) -> bool:
        """Whether a thinking block's signature is one this server gave its text."""
        text, signature = str(block.get("thinking", "")), str(block.get("signature", ""))
        if hmac.compare_digest(signature, sign_thinking(text)):
            return True
        with self._lock:
            return (text, signature) in self._pairs

    def bound(self, located: Located) -> bool:
        """Whether the block's prefix is one it was produced after (True for a block this
        server did not issue, such as one signed by hand: nothing is known to bind it)."""
        with self._lock:
            prefixes = self._prefixes.get(_key(located.block))
        return prefixes is None or located.prefix in prefixes

    def issued_with(self, tool_use_ids: list[str]) -> list[JsonDict] | None:
        """The thinking blocks returned with these tool calls; None if this server did not
        issue any of them."""
        with self._lock:
            for tool_use_id in tool_use_ids:
                if tool_use_id in self._with_call:
                    return self._with_call[tool_use_id]
        return None
