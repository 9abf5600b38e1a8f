"""How the loop tells people: one small protocol, implemented by the channels.

The loop (Prepare, Wait For Human, Deliver, Mark Failed) announces an investigation's start,
its questions, a park and its outcome without knowing which channels exist: the Lambda
handlers pass :func:`fixloop.channels.announce` (Slack and Linear), tests a recorder.
"""

from __future__ import annotations

from typing import Protocol

from fixloop.domain import Investigation

__all__ = ["Announcer"]


class Announcer(Protocol):
    def __call__(self, inv: Investigation, *, key: str, text: str) -> None:
        """Post ``text`` about ``inv`` to its people, once per ``key`` (idempotent), never
        raising: a channel outage must not fail an investigation."""
