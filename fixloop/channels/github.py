"""GitHub webhooks for fixloop's pull requests: feedback goes back to the investigation,
merged starts the aftercare of its fix (fixloop.aftercare: ``merged``, then followed to
production), closed unmerged rejects it.

Deliveries are verified against ``X-Hub-Signature-256`` (HMAC-SHA256 of the raw body with
the webhook secret, compared in constant time, as GitHub documents) before anything is read,
and recognised by ``X-GitHub-Delivery`` so a redelivery changes nothing (a delivery without
one gets an id derived from the comment: its place, author, time and text). A pull request
belongs to an investigation by its head branch, ``fixloop/<investigation id>``.

Reviews, review comments and conversation comments reach the investigation only from authors
whose ``author_association`` is in ``FIXLOOP_GITHUB_TRUSTED_ASSOCIATIONS`` (by default OWNER,
MEMBER, COLLABORATOR: people with a say in the repository, not any GitHub user who can
comment on a public pull request); others are acknowledged (202), logged, never stored.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger
from pydantic import BaseModel, ConfigDict, Field

from fixloop.aftercare import record_merge
from fixloop.config import get_settings, id_list
from fixloop.conversation.inbox import Posted, content_delivery_id, post_message
from fixloop.credentials.secrets import secret_value
from fixloop.delivery.protocol import branch_for
from fixloop.domain.investigation import Status
from fixloop.domain.payloads import parse_model
from fixloop.domain.signal import utcnow
from fixloop.errors import BadInputError, ConfigError
from fixloop.store import InvestigationNotFound, stores

BRANCH_PREFIX = branch_for("")
logger = Logger(child=True)


@dataclass(frozen=True)
class WebhookResult:
    status: int
    message: str


@lru_cache(maxsize=1)
def webhook_secret() -> str:
    """The webhook secret: from Secrets Manager in AWS, from the environment locally."""
    settings = get_settings()
    secret = secret_value(settings.github_webhook_secret_arn, settings.github_webhook_secret)
    if not secret:
        raise ConfigError(
            "set FIXLOOP_GITHUB_WEBHOOK_SECRET_ARN (or FIXLOOP_GITHUB_WEBHOOK_SECRET locally)"
        )
    return secret


def signature_valid(secret: str, body: bytes, header: str | None) -> bool:
    if not secret or not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.removeprefix("sha256="))


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _User(_Model):
    login: str = "someone"


class _Head(_Model):
    ref: str = ""


class _PullRequest(_Model):
    number: int | None = None
    head: _Head = Field(default_factory=_Head)
    merged: bool | None = None
    merged_at: datetime | None = None
    merge_commit_sha: str | None = None


class _Issue(_Model):
    number: int | None = None
    pull_request: dict[str, Any] | None = None
    """Present when the issue is a pull request."""


class _Comment(_Model):
    id: int | None = None
    body: str | None = ""
    path: str | None = None
    line: int | None = None
    original_line: int | None = None
    user: _User = Field(default_factory=_User)
    author_association: str = ""
    created_at: str = ""


class _Review(_Model):
    id: int | None = None
    state: str = ""
    body: str | None = ""
    user: _User = Field(default_factory=_User)
    author_association: str = ""
    submitted_at: str | None = ""


class _Repository(_Model):
    full_name: str = ""


class GithubPayload(_Model):
    """What fixloop reads of a webhook payload (GitHub's documented shapes; the rest is
    ignored). A field of the wrong type is a 400, never a 500."""

    action: str = ""
    pull_request: _PullRequest | None = None
    issue: _Issue | None = None
    comment: _Comment | None = None
    review: _Review | None = None
    repository: _Repository = Field(default_factory=_Repository)
    sender: _User = Field(default_factory=_User)


def handle_webhook(secret: str, headers: dict[str, str], body: bytes) -> WebhookResult:
    """Verify, then act on one delivery. Header names are matched case-insensitively."""
    h = {k.lower(): v for k, v in headers.items()}
    if not signature_valid(secret, body, h.get("x-hub-signature-256")):
        return WebhookResult(401, "signature missing or wrong")
    event = h.get("x-github-event", "")
    delivery = h.get("x-github-delivery", "")
    if event == "ping":
        return WebhookResult(200, "pong")
    try:
        payload = parse_model(GithubPayload, body)
    except BadInputError as exc:
        return WebhookResult(400, str(exc))
    if event == "issue_comment":
        if payload.issue is None or payload.issue.pull_request is None:
            return WebhookResult(202, "not a PR")
        return _issue_comment(payload, delivery)
    pull = payload.pull_request
    head = pull.head.ref if pull is not None else ""
    if pull is None or not head.startswith(BRANCH_PREFIX):
        return WebhookResult(202, "not a fixloop pull request")
    investigation_id = head.removeprefix(BRANCH_PREFIX)
    try:
        inv = stores().investigations.get(investigation_id)
    except InvestigationNotFound:
        return WebhookResult(202, f"no investigation {investigation_id}")
    if event == "pull_request" and payload.action == "closed":
        if pull.merged:
            status: Status = record_merge(
                investigation_id,
                commit=pull.merge_commit_sha or "",
                at=pull.merged_at or utcnow(),
                by=payload.sender.login,
                source="github",
            )
            return WebhookResult(200, status)
        stores().investigations.transition(
            investigation_id,
            ("delivered", "running", "blocked"),
            "rejected",
            f"pull request #{pull.number} closed without merging by {payload.sender.login}",
        )
        return WebhookResult(200, "rejected")
    feedback = _feedback(event, payload, pull)
    if feedback is None:
        return WebhookResult(202, f"{event}/{payload.action} needs nothing")
    text, author, association, sent_at = feedback
    refusal = _untrusted_author(author, association)
    if refusal:
        return refusal
    if not delivery:
        where = f"{payload.repository.full_name}#{pull.number}"
        delivery = content_delivery_id(
            "github", author=author, text=text, sent_at=sent_at, where=where
        )
    posted = post_message(
        inv.investigation_id, text=text, author=author, channel="github", delivery_id=delivery
    )
    return _answer(posted)


def _untrusted_author(author: str, association: str) -> WebhookResult | None:
    """A 202 for a comment whose author is not trusted (``author_association`` not in
    ``FIXLOOP_GITHUB_TRUSTED_ASSOCIATIONS``): acknowledged, logged, not stored."""
    trusted = {a.upper() for a in id_list(get_settings().github_trusted_associations)}
    if association.upper() in trusted:
        return None
    logger.warning("github comment refused", extra={"author": author, "association": association})
    return WebhookResult(
        202, f"{author} ({association or 'no association'}) may not instruct fixloop: ignored"
    )


def _answer(posted: Posted) -> WebhookResult:
    if posted.outcome == "accepted":
        return WebhookResult(200, "posted")
    if posted.outcome == "duplicate":
        return WebhookResult(202, "duplicate delivery")
    return WebhookResult(202, f"investigation is {posted.status}: message not taken")


def _feedback(
    event: str, payload: GithubPayload, pull: _PullRequest
) -> tuple[str, str, str, str] | None:
    """(text, author, author_association, sent at) of a review or review comment; None
    for anything else."""
    number = pull.number
    if event == "pull_request_review" and payload.action == "submitted" and payload.review:
        review = payload.review
        state = review.state.lower()
        if state == "approved" and not review.body:
            return None
        verdict = {"changes_requested": "requested changes", "approved": "approved"}.get(
            state, "commented"
        )
        text = f"Review of pull request #{number} ({verdict}): {review.body or ''}".strip()
        sent = review.submitted_at or str(review.id or "")
        return text, review.user.login, review.author_association, sent
    if event == "pull_request_review_comment" and payload.action == "created" and payload.comment:
        comment = payload.comment
        where = f"{comment.path}:{comment.line or comment.original_line}"
        text = f"Review comment on pull request #{number} at {where}: {comment.body or ''}"
        sent = comment.created_at or str(comment.id or "")
        return text, comment.user.login, comment.author_association, sent
    return None


def _issue_comment(payload: GithubPayload, delivery: str) -> WebhookResult:
    """A conversation comment on a pull request: the branch is not in the payload, so find
    the investigation by the pull request recorded on it. (A scan: fine for the investigations
    one deployment holds; the listing index of the channels work replaces it.)"""
    if payload.action != "created" or payload.comment is None or payload.issue is None:
        return WebhookResult(202, "comment not created")
    number = payload.issue.number
    repo = payload.repository.full_name
    for inv in stores().investigations.list(limit=500):
        pr = inv.pull_request
        if pr is not None and pr.number == number and inv.github_repo == repo:
            comment = payload.comment
            author = comment.user.login
            refusal = _untrusted_author(author, comment.author_association)
            if refusal:
                return refusal
            text = f"Comment on pull request #{number}: {comment.body or ''}"
            if not delivery:
                delivery = content_delivery_id(
                    "github",
                    author=author,
                    text=text,
                    sent_at=comment.created_at or str(comment.id or ""),
                    where=f"{repo}#{number}",
                )
            return _answer(
                post_message(
                    inv.investigation_id,
                    text=text,
                    author=author,
                    channel="github",
                    delivery_id=delivery,
                )
            )
    return WebhookResult(202, "not a fixloop pull request")
