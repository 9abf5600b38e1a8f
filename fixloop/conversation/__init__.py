"""The conversation of an investigation with its people: one inbox every channel posts to,
the loop's waits for a reply, and the protocol the loop announces through."""

from fixloop.conversation.announcer import Announcer
from fixloop.conversation.inbox import (
    REOPENABLE,
    Posted,
    content_delivery_id,
    drain,
    is_approval,
    message_position,
    post_message,
    reopen,
    resume_waiting,
    wake_if_pending,
)
from fixloop.conversation.waits import WaitTask, awaited, open_wait, park_unanswered, wait_id

__all__ = [
    "REOPENABLE",
    "Announcer",
    "Posted",
    "WaitTask",
    "awaited",
    "content_delivery_id",
    "drain",
    "is_approval",
    "message_position",
    "open_wait",
    "park_unanswered",
    "post_message",
    "reopen",
    "resume_waiting",
    "wait_id",
    "wake_if_pending",
]
