"""Prompt caching: where the cache breakpoints go, and a cheap local token estimate.

The Messages API caches a prompt prefix up to a block marked ``cache_control`` (in the order
tools, system, messages) and reads it back when a later request starts with the very same
bytes. fixloop's prompt is rebuilt from the log each turn and only ever grows at its end
(until a compaction rewrites it), so with these breakpoints each request reads the previous
request's whole prompt from cache and writes only what the last turn added:

1. the system prompt (with the tool definitions before it): stable for the investigation;
2. the last block of the message the previous request ended with: exactly the previous
   request's prompt, so its cache entry is hit even when the last turn added more than the
   API's 20-block lookback;
3. the last block of the latest message: the whole prompt, for the next request to read.

At most 4 breakpoints are allowed; we use 3. A breakpoint whose prefix is below the model's
minimum cacheable length is not cached by the API, so none is placed there. A request uses
one TTL for all its breakpoints ("1h" when the investigation may wait on a human longer than
5 minutes), which satisfies the rule that 1-hour entries come before 5-minute ones.

Sources: https://platform.claude.com/docs/en/build-with-claude/prompt-caching (breakpoints,
lookback, TTL ordering, minimum lengths), read 2026-11-26.
"""

from __future__ import annotations

import copy
import json
from typing import Any, Literal

__all__ = [
    "CHARS_PER_TOKEN",
    "MAX_BREAKPOINTS",
    "CacheTTL",
    "estimate_tokens",
    "min_cacheable_tokens",
    "place_breakpoints",
]

CacheTTL = Literal["5m", "1h"]
MAX_BREAKPOINTS = 4
CHARS_PER_TOKEN = 4
"""The local estimate's ratio; English prose is near 4, code and JSON nearer 3."""

# Minimum cacheable prompt length per model family (prompt caching docs, 2026-11-26).
# Checked in order; the first family whose name is in the model id wins.
_MINIMUMS: tuple[tuple[str, int], ...] = (
    ("opus-5", 512),
    ("fable-5", 512),
    ("mythos-5", 512),
    ("haiku-4-5", 4096),
    ("opus-4-5", 4096),
    ("opus-4-6", 4096),
    ("opus-4-7", 4096),
    ("haiku-3", 2048),
)
_DEFAULT_MINIMUM = 1024
"""Sonnet 5, Sonnet 4.x, Opus 4, 4.1 and 4.8, Claude 3.7: and the safe guess for others."""


def min_cacheable_tokens(model: str) -> int:
    """The shortest prefix ``model`` caches (Bedrock ids such as
    ``us.anthropic.claude-haiku-4-5-20251001-v1:0`` match their family too)."""
    for family, minimum in _MINIMUMS:
        if family in model:
            return minimum
    return _DEFAULT_MINIMUM


def estimate_tokens(value: Any) -> int:
    """A cheap token estimate of any JSON value: its compact JSON length over 4."""
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return -(-len(text) // CHARS_PER_TOKEN)


def place_breakpoints(
    params: dict[str, Any], *, model: str, ttl: CacheTTL = "5m"
) -> dict[str, Any]:
    """A copy of Messages API ``params`` with cache breakpoints placed as the module says.

    ``params["system"]`` may be a string (it becomes one text block) or a list of blocks;
    message contents may be strings (they become one text block). Existing ``cache_control``
    markers are removed first, so the result never has more than :data:`MAX_BREAKPOINTS`.
    """
    out = copy.deepcopy(params)
    minimum = min_cacheable_tokens(model)
    control: dict[str, Any] = {"type": "ephemeral"}
    if ttl == "1h":
        control["ttl"] = "1h"

    tools: list[dict[str, Any]] = out.get("tools") or []
    system = out.get("system")
    if isinstance(system, str):
        system = [{"type": "text", "text": system}] if system else []
    system_blocks: list[dict[str, Any]] = list(system or [])
    messages: list[dict[str, Any]] = out.get("messages") or []
    for block in [*tools, *system_blocks, *(b for m in messages for b in _blocks(m))]:
        block.pop("cache_control", None)

    prefix = sum(estimate_tokens(t) for t in tools) + sum(estimate_tokens(b) for b in system_blocks)
    marked = 0
    if system_blocks and prefix >= minimum:
        system_blocks[-1]["cache_control"] = dict(control)
        out["system"] = system_blocks
        marked += 1
    elif tools and not system_blocks and prefix >= minimum:
        tools[-1]["cache_control"] = dict(control)
        marked += 1

    # Cumulative estimate at the end of each message, to skip prefixes below the minimum.
    ends: list[int] = []
    for message in messages:
        prefix += sum(estimate_tokens(b) for b in _blocks(message))
        ends.append(prefix)
    targets = [i for i in (len(messages) - 3, len(messages) - 1) if i >= 0]
    for index in dict.fromkeys(targets):
        message = messages[index]
        if ends[index] < minimum or marked >= MAX_BREAKPOINTS or not message.get("content"):
            continue
        if isinstance(message["content"], str):
            message["content"] = [{"type": "text", "text": message["content"]}]
        message["content"][-1]["cache_control"] = dict(control)
        marked += 1
    return out


def _blocks(message: dict[str, Any]) -> list[Any]:
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return list(content or [])
