"""Tell the investigation's people: its start, its questions, its outcome, on every channel.

Posting is best effort for the loop: a channel that is down is logged, never a reason to
fail an investigation. Each post is idempotent per (investigation, key) on each channel.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger

from fixloop.channels import linear, slack
from fixloop.domain import Investigation

logger = Logger(child=True)


def announce(inv: Investigation, *, key: str, text: str) -> None:
    for name, post in (("slack", slack.post), ("linear", linear.post)):
        try:
            post(inv, key, text)
        except Exception:  # a channel outage must not fail the investigation
            logger.exception("posting to a channel failed", extra={"channel": name, "key": key})
