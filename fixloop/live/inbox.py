"""Where a person's message from the live view or MCP goes: the one seam to the inbox.

Today this is :func:`fixloop.agent.resume.post_message` (the message lands in the log at the
next turn and wakes a delivered investigation). The inbox (``fixloop.agent.inbox``) replaces
it at merge: re-point this function and nothing else.
"""

from __future__ import annotations

import uuid

from fixloop.agent.resume import post_message
from fixloop.store import stores

__all__ = ["send_to_investigation"]


def send_to_investigation(
    investigation_id: str, text: str, *, author: str, channel: str, delivery_id: str = ""
) -> bool:
    """Post ``text`` from ``author`` to the investigation; False if it was a redelivery.

    Raises :class:`~fixloop.store.exceptions.InvestigationNotFound` for an unknown id.
    """
    inv = stores().investigations.get(investigation_id)
    return post_message(
        inv,
        text=text,
        author=author,
        channel=channel,
        delivery_id=delivery_id or uuid.uuid4().hex,
    )
