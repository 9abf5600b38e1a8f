"""An investigation's budgets: whether it is over one, and the note telling the model what is
left before each turn.

The limits are the investigation's own (set when it was opened) or the configured defaults
(``FIXLOOP_MAX_TURNS``, ``FIXLOOP_BUDGET_*``). Prepare parks an investigation over one
(:func:`over_budget`); before each turn it writes :func:`budget_note` into the log, so the
model can plan (deliver what it has established when little is left) and the prompt, rebuilt
from the log, only grows at its end (a note computed at prompt time would change the prefix
the cache and preserved thinking depend on).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fixloop.config import Settings, get_settings
from fixloop.cost import investigation_usage, model_cost, model_id_of
from fixloop.domain.investigation import Investigation
from fixloop.domain.signal import utcnow

__all__ = ["Limits", "budget_note", "limits_of", "over_budget"]


@dataclass(frozen=True)
class Limits:
    """An investigation's limits; 0 is no limit (turns always have one)."""

    turns: int
    tokens: int
    cost_usd: float
    wall_seconds: int


def limits_of(inv: Investigation, settings: Settings | None = None) -> Limits:
    s = settings or get_settings()
    return Limits(
        turns=s.max_turns,
        tokens=inv.budget_tokens if inv.budget_tokens is not None else s.budget_tokens,
        cost_usd=inv.budget_cost_usd if inv.budget_cost_usd is not None else s.budget_cost_usd,
        wall_seconds=(
            inv.budget_wall_seconds
            if inv.budget_wall_seconds is not None
            else s.budget_wall_seconds
        ),
    )


def over_budget(inv: Investigation, now: datetime | None = None) -> str:
    """Why the investigation is over one of its budgets ("" if it is not)."""
    limits = limits_of(inv)
    if limits.tokens and inv.total_tokens > limits.tokens:
        return f"token budget exceeded ({inv.total_tokens:,} tokens used, budget {limits.tokens:,})"
    if limits.cost_usd:
        spent = model_cost(model_id_of(inv.model), investigation_usage(inv))
        if spent > limits.cost_usd:
            return (
                f"cost budget exceeded (${spent:.2f} of model tokens, "
                f"budget ${limits.cost_usd:.2f})"
            )
    if limits.wall_seconds:
        elapsed = ((now or utcnow()) - inv.created_at).total_seconds()
        if elapsed > limits.wall_seconds:
            return f"time budget exceeded ({elapsed:,.0f} s open, budget {limits.wall_seconds:,} s)"
    return ""


def budget_note(inv: Investigation, turn: int, now: datetime | None = None) -> str:
    """fixloop's note before ``turn``: the turns, tokens, cost and time used and left."""
    limits = limits_of(inv)
    parts = [f"turn {turn} of at most {limits.turns} ({limits.turns - turn} left after this)"]
    used = inv.total_tokens
    if limits.tokens:
        parts.append(f"{used:,} tokens used of {limits.tokens:,} ({_left(used, limits.tokens)})")
    else:
        parts.append(f"{used:,} tokens used (no token budget)")
    if limits.cost_usd:
        spent = model_cost(model_id_of(inv.model), investigation_usage(inv))
        parts.append(f"${spent:.2f} spent of ${limits.cost_usd:.2f}")
    minutes = max(0.0, ((now or utcnow()) - inv.created_at).total_seconds()) / 60
    if limits.wall_seconds:
        budget = limits.wall_seconds / 60
        parts.append(f"{minutes:,.0f} of {budget:,.0f} minutes elapsed")
    else:
        parts.append(f"{minutes:,.0f} minutes elapsed (no time budget)")
    return "budget before this turn: " + "; ".join(parts) + "."


def _left(used: float, limit: float) -> str:
    share = max(0.0, 1 - used / limit)
    return f"{share:.0%} left"
