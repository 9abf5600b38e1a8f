"""Channels people reach an investigation through: Slack, Linear, GitHub, the REST API.

Inbound messages go to the investigation's inbox (:mod:`fixloop.conversation`); outbound,
:func:`announce` is the loop's :class:`~fixloop.conversation.Announcer`.
"""

from fixloop.channels.outbound import announce

__all__ = ["announce"]
