"""Read models the live view and MCP share: investigations listed, one summarised, one read
as text.

:func:`investigation_row` is a line of the list (``list``, ``subscribe_list``, MCP's
``list_investigations``); :func:`investigation_view` is the summary of one investigation
(``subscribe``, the fan-out after an event that changes it, MCP's ``read_investigation``).
Both come from the investigation's record; the fan-out passes the event it is posting, whose
news the record may not hold yet (the log is written before the record is updated).
"""

from __future__ import annotations

import json
import time
from typing import Any

from pydantic import BaseModel

from fixloop.cost import (
    WEBSOCKET_MESSAGE_USD,
    investigation_usage,
    model_cost_parts,
    model_id_of,
    price_of,
)
from fixloop.domain import Investigation
from fixloop.domain.describe import describe
from fixloop.domain.events import (
    AssistantMessage,
    Delivered,
    Event,
    StatusChanged,
    StreamChunk,
)
from fixloop.domain.investigation import AFTER_MERGE_STATUSES, TERMINAL_STATUSES
from fixloop.errors import BadInputError
from fixloop.store import StoredEvent, stores

__all__ = [
    "event_text",
    "investigation_row",
    "investigation_summaries",
    "investigation_view",
    "read_investigation",
]

MAX_POSITION_CHARS = 200
"""Positions are short (``t000004.2.001``); a longer ``after`` is not one (and a sort key
over 1 KB is refused by DynamoDB)."""


def investigation_summaries(limit: int = 50) -> list[dict[str, Any]]:
    """The newest investigations first, one :func:`investigation_row` each."""
    invs = sorted(
        stores().investigations.list(limit=limit), key=lambda i: i.created_at, reverse=True
    )
    return [investigation_row(inv) for inv in invs]


def read_investigation(
    investigation_id: str, after: str | None = None, limit: int = 100
) -> dict[str, Any]:
    """The investigation's summary and up to ``limit`` events after ``after`` as text lines
    (stream chunks left out: the final messages hold the same words); ``next_after`` is where
    to continue."""
    if after is not None and len(after) > MAX_POSITION_CHARS:
        raise BadInputError(f"after: not a position (over {MAX_POSITION_CHARS} characters)")
    st = stores()
    inv = st.investigations.get(investigation_id)
    events: list[dict[str, Any]] = []
    last = after
    for stored in st.events.read(investigation_id, after=after):
        last = stored.position
        if isinstance(stored.event, StreamChunk):
            continue
        events.append(
            {"position": stored.position, "type": stored.event.type, "text": event_text(stored)}
        )
        if len(events) >= limit:
            break
    return {"investigation": investigation_view(inv), "events": events, "next_after": last}


def investigation_row(inv: Investigation) -> dict[str, Any]:
    """One line of the list: what, where, when, how far, what it cost, how it ended."""
    return {
        "investigation_id": inv.investigation_id,
        "title": inv.title,
        "status": inv.status,
        "turns": inv.turns,
        "outcome": inv.outcome,
        "pull_request": inv.pull_request.url if inv.pull_request else None,
        "created_at": inv.created_at.isoformat(),
        "updated_at": inv.updated_at.isoformat(),
        "closed": inv.status in TERMINAL_STATUSES,
        "signal": {"kind": inv.signal_kind, "source": inv.signal_source},
        "cost_usd": _cost(inv)["total"],
        "aftercare": _aftercare(inv),
    }


def investigation_view(inv: Investigation, latest: Event | None = None) -> dict[str, Any]:
    """The summary of one investigation: its row, the pull request, tokens, cost by part,
    the verification when there is one. ``latest``: an event the record may not reflect
    yet (a turn whose usage is not counted, a status or pull request just written)."""
    inv = _with(inv, latest)
    pr = inv.pull_request
    verification: Any = getattr(inv, "verification", None)  # set by fixloop's verification
    if isinstance(verification, BaseModel):
        verification = verification.model_dump(mode="json")
    usage = investigation_usage(inv)
    return investigation_row(inv) | {
        "repo": inv.repo,
        "model": inv.model,
        "model_label": "a scripted replay" if inv.model.startswith("scripted:") else inv.model,
        "pull_request_ref": pr.model_dump(mode="json") if pr else None,
        "merged": inv.status in AFTER_MERGE_STATUSES or inv.status == "fixed",
        "tokens": {
            "input": usage.input_tokens,
            "output": usage.output_tokens,
            "cache_write": usage.cache_creation_input_tokens,
            "cache_read": usage.cache_read_input_tokens,
            "total": inv.total_tokens,
        },
        "cost": _cost(inv),
        "websocket_messages": inv.websocket_messages,
        "verification": verification,
        "as_of": time.time(),
    }


def _with(inv: Investigation, latest: Event | None) -> Investigation:
    if isinstance(latest, AssistantMessage) and inv.counted_turn < latest.turn:
        u = latest.usage
        return inv.model_copy(
            update={
                "turns": max(inv.turns, latest.turn),
                "counted_turn": latest.turn,
                "tokens_input": inv.tokens_input + u.get("input_tokens", 0),
                "tokens_output": inv.tokens_output + u.get("output_tokens", 0),
                "tokens_cache_write": inv.tokens_cache_write
                + u.get("cache_creation_input_tokens", 0),
                "tokens_cache_read": inv.tokens_cache_read + u.get("cache_read_input_tokens", 0),
            }
        )
    if isinstance(latest, StatusChanged):
        return inv.model_copy(update={"status": latest.status, "outcome": latest.reason})
    if isinstance(latest, Delivered) and latest.pull_request is not None:
        return inv.model_copy(update={"pull_request": latest.pull_request})
    return inv


def _cost(inv: Investigation) -> dict[str, Any]:
    """What the investigation cost so far, from what is counted live: the model's tokens by
    kind and the live view's messages. The AWS compute (Step Functions, Lambda, Fargate,
    DynamoDB) is priced from execution histories by ``fixloop run`` and ``show``, not here."""
    model = model_id_of(inv.model)
    parts = {
        f"model_{kind}": usd
        for kind, usd in model_cost_parts(model, investigation_usage(inv)).items()
    }
    parts["websocket"] = inv.websocket_messages * WEBSOCKET_MESSAGE_USD
    return {
        "total": round(sum(parts.values()), 6),
        "priced": price_of(model) is not None,
        "parts": {k: round(v, 6) for k, v in parts.items()},
    }


def _aftercare(inv: Investigation) -> dict[str, Any] | None:
    """What became of its fix after the merge (fixloop.aftercare), None if never merged."""
    ac = inv.aftercare
    if ac is None:
        return None
    return {
        "phase": ac.phase,
        "round": ac.round,
        "pull_request": ac.pull_request_url,
        "merged_at": ac.merged_at.isoformat() if ac.merged_at else None,
        "deployed_at": ac.deployed_at.isoformat() if ac.deployed_at else None,
        "deploy_source": ac.deploy_source,
        "verified_at": ac.verified_at.isoformat() if ac.verified_at else None,
        "recurrences": ac.recurrences,
        "regressions": ac.regressions,
    }


def event_text(stored: StoredEvent) -> str:
    ev = stored.event
    if isinstance(ev, AssistantMessage):
        parts = []
        for block in ev.content:
            if block.get("type") == "text":
                parts.append(str(block.get("text", "")))
            elif block.get("type") == "thinking":
                parts.append("(thinking) " + str(block.get("thinking", "")))
            elif block.get("type") == "tool_use":
                parts.append(f"calls {block.get('name')} {json.dumps(block.get('input', {}))}")
        return "\n".join(parts)
    lines = describe(stored.event)
    if hasattr(ev, "content") and isinstance(getattr(ev, "content", None), str):
        return "\n".join([*lines, str(ev.content)[:4000]])
    return "\n".join(lines)
