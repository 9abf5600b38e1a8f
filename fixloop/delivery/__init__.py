"""Delivery: an investigation's fix becomes a branch, a commit and a pull request on its code
host (GitHub through PyGithub in ``fixloop.delivery.github``, or a local git repository in
``fixloop.delivery.local``). See ``fixloop.delivery.protocol`` for the contract."""

from __future__ import annotations

from fixloop.delivery.protocol import (
    DEFAULT_LABELS,
    CodeHost,
    DeliveryError,
    PullRequestDraft,
    branch_for,
)
from fixloop.domain import PullRequestRef

__all__ = [
    "DEFAULT_LABELS",
    "CodeHost",
    "DeliveryError",
    "PullRequestDraft",
    "PullRequestRef",
    "branch_for",
]
