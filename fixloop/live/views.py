"""Read models the live view and MCP share: investigations listed, one read as text."""

from __future__ import annotations

import json
from typing import Any

from fixloop.domain import Investigation
from fixloop.domain.describe import describe
from fixloop.domain.events import AssistantMessage, StreamChunk
from fixloop.errors import BadInputError
from fixloop.store import StoredEvent, stores

__all__ = ["event_text", "investigation_summaries", "read_investigation"]

MAX_POSITION_CHARS = 200
"""Positions are short (``t000004.2.001``); a longer ``after`` is not one (and a sort key
over 1 KB is refused by DynamoDB)."""


def investigation_summaries(limit: int = 50) -> list[dict[str, Any]]:
    """The newest investigations first: id, title, status, turns, outcome, pull request."""
    invs = sorted(
        stores().investigations.list(limit=limit), key=lambda i: i.created_at, reverse=True
    )
    return [_summary(inv) for inv in invs]


def read_investigation(
    investigation_id: str, after: str | None = None, limit: int = 100
) -> dict[str, Any]:
    """The investigation's record and up to ``limit`` events after ``after`` as text lines
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
    return {
        "investigation": _summary(inv) | {"repo": inv.repo, "model": inv.model},
        "events": events,
        "next_after": last,
    }


def _summary(inv: Investigation) -> dict[str, Any]:
    return {
        "investigation_id": inv.investigation_id,
        "title": inv.title,
        "status": inv.status,
        "turns": inv.turns,
        "outcome": inv.outcome,
        "pull_request": inv.pull_request.url if inv.pull_request else None,
        "created_at": inv.created_at.isoformat(),
        "aftercare": _aftercare(inv),
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
