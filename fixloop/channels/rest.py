"""The REST API of investigations: read one (with a page of its log), post a message to it,
and the outcomes counted over all of them (``GET /stats``)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from fixloop.aftercare import outcome_stats
from fixloop.conversation.inbox import post_message
from fixloop.domain import EVENT_ADAPTER
from fixloop.domain.payloads import first_problem
from fixloop.store import InvestigationNotFound, stores
from fixloop.store.investigations import MAX_SCANNED

MAX_PAGE = 200


class MessageIn(BaseModel):
    text: str = Field(min_length=1)
    author: str = Field(default="", max_length=200)
    delivery_id: str = Field(default="", max_length=200)
    """The caller's id for this message: a retry with the same id is stored once."""


MAX_POSITION_CHARS = 200
"""Positions are short (``t000004.2.001``); a longer ``after`` is not one."""


def read(investigation_id: str, *, after: str | None, limit: int) -> tuple[int, dict[str, Any]]:
    if after is not None and len(after) > MAX_POSITION_CHARS:
        return 400, {"message": f"after: not a position (over {MAX_POSITION_CHARS} characters)"}
    try:
        inv = stores().investigations.get(investigation_id)
    except InvestigationNotFound:
        return 404, {"message": f"no investigation {investigation_id}"}
    limit = max(1, min(limit, MAX_PAGE))
    events = [
        {"position": e.position, **json.loads(EVENT_ADAPTER.dump_json(e.event))}
        for e in stores().events.read(investigation_id, after=after, limit=limit)
    ]
    record = inv.model_dump(mode="json")
    return 200, {
        "investigation": record,
        "events": events,
        "next_after": events[-1]["position"] if len(events) == limit else None,
    }


def post(
    investigation_id: str, body: bytes, *, caller: str, request_id: str
) -> tuple[int, dict[str, Any]]:
    """202 stored (resumed or woke it, or read at the next turn); 200 a duplicate; 400 bad
    body; 404 unknown investigation; 409 closed. Nothing is stored unless 202."""
    try:
        message = MessageIn.model_validate_json(body)
    except ValidationError as exc:
        return 400, {"message": f"invalid message: {first_problem(exc)}"}
    try:
        posted = post_message(
            investigation_id,
            text=message.text,
            author=message.author or caller,
            channel="api",
            delivery_id=message.delivery_id or request_id,
        )
    except InvestigationNotFound:
        return 404, {"message": f"no investigation {investigation_id}"}
    if posted.outcome == "closed":
        return 409, {
            "message": f"investigation {investigation_id} is {posted.status}: closed, "
            "the message was not stored",
            "status": posted.status,
        }
    answer = {
        "outcome": posted.outcome,
        "sequence": posted.sequence,
        "resumed": posted.resumed,
        "woke": posted.woke,
    }
    return (202 if posted.outcome == "accepted" else 200), answer


def stats() -> tuple[int, dict[str, Any]]:
    """Per service and overall: investigations, pull requests, merged, verified, recurred,
    the median times from the signal to the pull request and to verified, and model cost."""
    investigations = stores().investigations.list(limit=MAX_SCANNED)
    return 200, outcome_stats(investigations).as_json()
