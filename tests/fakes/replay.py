"""A scripted session served over the Messages API, for long-session tests and benchmarks.

:class:`SessionReplay` is a :class:`~tests.fakes.messages.MessagesServer`
responder: it answers each turn request with the next turn of a script and each compaction
request (a request without tools) with a summary. It is not a model. It finds which turn is
asked for from the request itself (the tool_use ids it gave the previous turn, which the
loop sends back), so a retried request gets the same answer, and its "summary" is an
extract: every line of the transcript carrying the script's ``marker`` (default ``NOTE:``),
which is how a test checks that a fact planted early survives any number of compactions.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from typing import Any

from fixloop.llm.protocol import message_texts
from tests.fakes.messages import (
    MessageReply,
    RecordedRequest,
    block_tokens,
    prompt_blocks,
)

__all__ = ["RequestFigures", "SessionReplay", "request_figures", "turn_of"]

_ID = re.compile(r"^toolu_replay(\d{6})x\d{2}$")


def turn_of(body: dict[str, Any]) -> int | None:
    """Which scripted turn a request asks for (1-based); None for a compaction request."""
    if not body.get("tools"):
        return None
    for message in reversed(body.get("messages") or []):
        if message.get("role") != "assistant" or not isinstance(message.get("content"), list):
            continue
        for block in message["content"]:
            match = _ID.match(str(block.get("id", ""))) if block.get("type") == "tool_use" else None
            if match:
                return int(match.group(1)) + 1
    return 1


class SessionReplay:
    """Answers turn N with ``turns[N-1]`` and compaction requests with an extract."""

    def __init__(self, turns: list[list[dict[str, Any]]], marker: str = "NOTE:") -> None:
        self.turns = turns
        self.marker = marker
        self.summaries = 0

    def __call__(self, body: dict[str, Any]) -> MessageReply:
        turn = turn_of(body)
        if turn is None:
            self.summaries += 1
            return MessageReply([{"type": "text", "text": self.summary(body)}], "end_turn")
        if not 1 <= turn <= len(self.turns):
            raise LookupError(f"the script has {len(self.turns)} turns; turn {turn} was asked for")
        content = copy.deepcopy(self.turns[turn - 1])
        calls = 0
        for block in content:
            if block.get("type") == "tool_use":
                block["id"] = f"toolu_replay{turn:06d}x{calls:02d}"
                block.setdefault("input", {})
                calls += 1
        return MessageReply(content, "tool_use" if calls else "end_turn")

    def summary(self, body: dict[str, Any]) -> str:
        """The lines of the request carrying the marker, once each, as bullet points."""
        kept: list[str] = []
        for message in body.get("messages") or []:
            for text in message_texts(message):
                for line in text.splitlines():
                    at = line.find(self.marker)
                    if at >= 0 and f"- {line[at:]}" not in kept:
                        kept.append(f"- {line[at:]}")
        return "\n".join(["- (replayed summary: the marked notes so far)", *kept])


@dataclass(frozen=True)
class RequestFigures:
    """One request the server received, as the cache saw it."""

    turn: int | None
    """The scripted turn it asked for; None for a compaction request."""
    prompt_tokens: int
    cache_read_tokens: int
    shared_prefix_tokens: int
    """Tokens of its prompt identical to the start of the previous request's prompt."""
    text: str
    """All the text the prompt carried (to look for a planted fact)."""


def request_figures(requests: list[RecordedRequest]) -> list[RequestFigures]:
    """Figures of the ``/v1/messages`` requests, in order received."""
    out: list[RequestFigures] = []
    previous: list[str] = []
    for request in requests:
        if request.path != "/v1/messages" or request.usage is None:
            continue
        body = request.body
        blocks = prompt_blocks(body)
        keys = [
            where + json.dumps({k: v for k, v in b.items() if k != "cache_control"}, sort_keys=True)
            for where, b in blocks
        ]
        shared = 0
        for index, key in enumerate(keys):
            if index >= len(previous) or previous[index] != key:
                break
            shared += block_tokens(blocks[index][1])
        usage = request.usage
        out.append(
            RequestFigures(
                turn=turn_of(body),
                prompt_tokens=usage["input_tokens"]
                + usage["cache_creation_input_tokens"]
                + usage["cache_read_input_tokens"],
                cache_read_tokens=usage["cache_read_input_tokens"],
                shared_prefix_tokens=shared,
                text=json.dumps(body.get("messages")),
            )
        )
        if turn_of(body) is not None:
            previous = keys
    return out
