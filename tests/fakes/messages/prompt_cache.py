"""Prompt caching as the Messages API documents it, and the local rule that counts tokens
(a block's compact JSON, without its ``cache_control``, over four characters)."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fixloop.llm.caching import min_cacheable_tokens

__all__ = [
    "LOOKBACK_BLOCKS",
    "TTL_SECONDS",
    "PromptCache",
    "block_tokens",
    "count_prompt_tokens",
    "prompt_blocks",
]

JsonDict = dict[str, Any]

LOOKBACK_BLOCKS = 20
"""How many blocks before a breakpoint the API looks for a cache hit."""
TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}


def block_tokens(block: Any) -> int:
    """The server's token count of one prompt block (its cache_control not counted)."""
    if isinstance(block, dict) and "cache_control" in block:
        block = {k: v for k, v in block.items() if k != "cache_control"}
    return -(-len(json.dumps(block, separators=(",", ":"), sort_keys=True)) // 4)


def prompt_blocks(body: JsonDict) -> list[tuple[str, Any]]:
    """The request's prompt as the cache sees it: tools, then system blocks, then every
    message's content blocks (a string being one text block), in order, each with where it
    sits ("tools", "system" or the message's role: part of what a cached prefix matches)."""
    blocks: list[tuple[str, Any]] = [("tools", t) for t in body.get("tools") or []]
    system = body.get("system")
    if isinstance(system, str):
        blocks.append(("system", {"type": "text", "text": system}))
    elif isinstance(system, list):
        blocks.extend(("system", b) for b in system)
    for message in body.get("messages") or []:
        if not isinstance(message, dict):
            continue
        role, content = str(message.get("role")), message.get("content")
        if isinstance(content, str):
            blocks.append((role, {"type": "text", "text": content}))
        elif isinstance(content, list):
            blocks.extend((role, b) for b in content)
    return blocks


def count_prompt_tokens(body: JsonDict) -> int:
    return sum(block_tokens(b) for _, b in prompt_blocks(body))


@dataclass
class _Entry:
    tokens: int
    ttl: str
    expires_at: float


class PromptCache:
    """The API's prompt cache: entries keyed by (model, exact prefix), with a TTL."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def account(self, body: JsonDict) -> JsonDict:
        """Read and write the cache for one request; its prompt-side usage. The request has
        passed :func:`~tests.fakes.messages.rules.check_request` (at most 4 breakpoints, known
        TTLs, 1-hour ones first)."""
        model = str(body.get("model", ""))
        blocks = prompt_blocks(body)
        marks = [
            (index, str(block["cache_control"].get("ttl", "5m")))
            for index, (_, block) in enumerate(blocks)
            if isinstance(block, dict) and isinstance(block.get("cache_control"), dict)
        ]
        cumulative: list[int] = []
        keys: list[str] = []
        digest = hashlib.sha256(model.encode())
        total = 0
        for where, block in blocks:
            total += block_tokens(block)
            cumulative.append(total)
            clean = (
                {k: v for k, v in block.items() if k != "cache_control"}
                if isinstance(block, dict)
                else block
            )
            digest.update(where.encode() + b"\0")
            digest.update(json.dumps(clean, sort_keys=True, separators=(",", ":")).encode())
            keys.append(digest.copy().hexdigest())

        now = self.clock()
        with self._lock:
            hit = -1
            for index, _ in marks:
                for candidate in range(index, max(-1, index - LOOKBACK_BLOCKS - 1), -1):
                    entry = self._entries.get(keys[candidate])
                    if entry is not None and entry.expires_at > now and candidate > hit:
                        hit = candidate
                        break
            if hit >= 0:
                entry = self._entries[keys[hit]]
                entry.expires_at = now + TTL_SECONDS[entry.ttl]
            read = cumulative[hit] if hit >= 0 else 0
            written = {"5m": 0, "1h": 0}
            done = read
            minimum = min_cacheable_tokens(model)
            for index, ttl in marks:
                if index <= hit or cumulative[index] < minimum:
                    continue
                self._entries[keys[index]] = _Entry(cumulative[index], ttl, now + TTL_SECONDS[ttl])
                written[ttl] += cumulative[index] - done
                done = cumulative[index]
        creation = written["5m"] + written["1h"]
        return {
            "input_tokens": total - read - creation,
            "cache_creation_input_tokens": creation,
            "cache_read_input_tokens": read,
            "cache_creation": {
                "ephemeral_5m_input_tokens": written["5m"],
                "ephemeral_1h_input_tokens": written["1h"],
            },
        }

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
