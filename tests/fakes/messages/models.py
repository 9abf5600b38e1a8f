"""What the local Messages API knows of each model: its context window, its output limit,
whether it takes an assistant prefill, and whether it runs the prefix check on thinking blocks.

Sources (read 2026-11): the model overview pages,
https://platform.claude.com/docs/en/models/<model>/overview ("Context window: 1M tokens ·
Max output: 128K tokens"), and the errors page's "Prefill not supported"
(https://platform.claude.com/docs/en/api/errors): Claude 4.6 and later models refuse a
conversation ending with an assistant message; and "Prefix checks on thinking blocks"
(https://platform.claude.com/docs/en/build-with-claude/preserved-thinking/prefix-checks): the
models that run it, and what a failed check does when the request does not choose (a 400 on
Claude Fable 5.2 and Mythos 5.2, and on Fable 5.1 and Mythos 5.1 for accounts created from
2026-08-31, which is what the local server stands for; the failing blocks dropped otherwise).

A model the table does not know (the tests' ``claude-test``) gets the tightest limits of the
current lineup: the real API would refuse it outright (404), so nothing it accepts for one
should be kinder than what it accepts for a real model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["ModelLimits", "PrefixCheck", "limits_of", "prefix_check_of"]


@dataclass(frozen=True)
class ModelLimits:
    context_window: int
    """Most prompt tokens a request may carry."""
    max_output: int
    """Largest ``max_tokens`` the model takes."""
    prefill: bool
    """Whether the conversation may end with an assistant message (a prefill)."""


_MILLION = 1_000_000
_CURRENT = ModelLimits(_MILLION, 128_000, prefill=False)
_CLAUDE_45 = ModelLimits(200_000, 64_000, prefill=True)

# Checked in order; the first family whose name is in the model id wins (so Bedrock ids such
# as ``us.anthropic.claude-sonnet-5`` and dated ids match their family too).
_FAMILIES: tuple[tuple[str, ModelLimits], ...] = (
    ("fable-5", _CURRENT),
    ("mythos-5", _CURRENT),
    ("opus-5", _CURRENT),
    ("sonnet-5", _CURRENT),
    ("opus-4-8", _CURRENT),
    ("opus-4-7", _CURRENT),
    ("opus-4-6", _CURRENT),
    ("sonnet-4-6", _CURRENT),
    ("opus-4-5", _CLAUDE_45),
    ("sonnet-4-5", _CLAUDE_45),
    ("haiku-4-5", _CLAUDE_45),
    ("opus-4-1", ModelLimits(200_000, 32_000, prefill=True)),
    ("opus-4", ModelLimits(200_000, 32_000, prefill=True)),
    ("sonnet-4", ModelLimits(200_000, 64_000, prefill=True)),
    ("3-7-sonnet", ModelLimits(200_000, 64_000, prefill=True)),
    ("3-5-haiku", ModelLimits(200_000, 8_192, prefill=True)),
    ("3-haiku", ModelLimits(200_000, 4_096, prefill=True)),
)
UNKNOWN = ModelLimits(200_000, 64_000, prefill=False)
"""A model the table does not know: the smallest window and output limit of current models,
and no prefill."""


def limits_of(model: str) -> ModelLimits:
    for family, limits in _FAMILIES:
        if family in model:
            return limits
    return UNKNOWN


PrefixCheck = Literal["error", "drop_block"]

_PREFIX_CHECKS: tuple[tuple[str, PrefixCheck], ...] = (
    ("fable-5-2", "error"),
    ("mythos-5-2", "error"),
    ("fable-5-1", "error"),
    ("mythos-5-1", "error"),
    ("opus-5-5", "drop_block"),
    ("sonnet-5-5", "drop_block"),
    ("haiku-5-5", "drop_block"),
)


def prefix_check_of(model: str) -> PrefixCheck | None:
    """What a failed prefix check does on ``model`` when the request does not set
    ``thinking.block_binding.prefix_mismatch_behavior``; None: the model runs no prefix check."""
    for family, outcome in _PREFIX_CHECKS:
        if family in model:
            return outcome
    return None
