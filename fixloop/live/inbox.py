"""Where a person's message from the live view or MCP goes: the investigation's inbox.

A thin default over :func:`fixloop.conversation.inbox.post_message`: these surfaces have no
delivery ids of their own (a WebSocket frame or an MCP call is not redelivered by a
platform), so each message gets a fresh one.
"""

from __future__ import annotations

import uuid

from fixloop.conversation.inbox import Posted, post_message

__all__ = ["send_to_investigation"]


def send_to_investigation(
    investigation_id: str, text: str, *, author: str, channel: str, delivery_id: str = ""
) -> Posted:
    """Post ``text`` from ``author`` to the investigation: it answers the question the agent
    waits on, wakes a stopped investigation, or is read at the next turn (see ``Posted``).

    Raises :class:`~fixloop.errors.InvestigationNotFound` for an unknown id.
    """
    return post_message(
        investigation_id,
        text=text,
        author=author,
        channel=channel,
        delivery_id=delivery_id or uuid.uuid4().hex,
    )
