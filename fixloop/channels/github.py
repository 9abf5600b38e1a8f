"""GitHub webhooks for fixloop's pull requests: feedback goes back to the investigation,
merged closes it as fixed, closed unmerged as rejected.

Deliveries are verified against ``X-Hub-Signature-256`` (HMAC-SHA256 of the raw body with
the webhook secret, compared in constant time, as GitHub documents) before anything is read,
and recognised by ``X-GitHub-Delivery`` so a redelivery changes nothing. A pull request
belongs to an investigation by its head branch, ``fixloop/<investigation id>``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from fixloop.config import get_settings
from fixloop.conversation.inbox import Posted, post_message
from fixloop.credentials.secrets import secret_value
from fixloop.delivery.protocol import branch_for
from fixloop.domain.investigation import Status
from fixloop.errors import ConfigError
from fixloop.store import InvestigationNotFound, stores

BRANCH_PREFIX = branch_for("")


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
        payload: dict[str, Any] = json.loads(body)
    except ValueError:
        return WebhookResult(400, "body is not JSON")
    pull = payload.get("pull_request") or (payload.get("issue") or {}).get("pull_request")
    head = ((payload.get("pull_request") or {}).get("head") or {}).get("ref", "")
    if event == "issue_comment":
        return _issue_comment(payload, delivery) if pull else WebhookResult(202, "not a PR")
    if not head.startswith(BRANCH_PREFIX):
        return WebhookResult(202, "not a fixloop pull request")
    investigation_id = head.removeprefix(BRANCH_PREFIX)
    try:
        inv = stores().investigations.get(investigation_id)
    except InvestigationNotFound:
        return WebhookResult(202, f"no investigation {investigation_id}")
    action = payload.get("action")
    sender = (payload.get("sender") or {}).get("login", "someone")
    number = payload["pull_request"].get("number")
    if event == "pull_request" and action == "closed":
        merged = bool(payload["pull_request"].get("merged"))
        status: Status = "fixed" if merged else "rejected"
        verb = "merged" if merged else "closed without merging"
        stores().investigations.transition(
            investigation_id,
            ("delivered", "running", "blocked"),
            status,
            f"pull request #{number} {verb} by {sender}",
        )
        return WebhookResult(200, status)
    text = _feedback(event, action, payload)
    if text is None:
        return WebhookResult(202, f"{event}/{action} needs nothing")
    posted = post_message(
        inv.investigation_id, text=text, author=sender, channel="github", delivery_id=delivery
    )
    return _answer(posted)


def _answer(posted: Posted) -> WebhookResult:
    if posted.outcome == "accepted":
        return WebhookResult(200, "posted")
    if posted.outcome == "duplicate":
        return WebhookResult(202, "duplicate delivery")
    return WebhookResult(202, f"investigation is {posted.status}: message not taken")


def _feedback(event: str, action: Any, payload: dict[str, Any]) -> str | None:
    number = payload["pull_request"].get("number")
    if event == "pull_request_review" and action == "submitted":
        review = payload.get("review") or {}
        state = str(review.get("state", "")).lower()
        if state == "approved" and not review.get("body"):
            return None
        verdict = {"changes_requested": "requested changes", "approved": "approved"}.get(
            state, "commented"
        )
        return f"Review of pull request #{number} ({verdict}): {review.get('body') or ''}".strip()
    if event == "pull_request_review_comment" and action == "created":
        comment = payload.get("comment") or {}
        where = f"{comment.get('path')}:{comment.get('line') or comment.get('original_line')}"
        return f"Review comment on pull request #{number} at {where}: {comment.get('body', '')}"
    return None


def _issue_comment(payload: dict[str, Any], delivery: str) -> WebhookResult:
    """A conversation comment on a pull request: the branch is not in the payload, so find
    the investigation by the pull request recorded on it. (A scan: fine for the investigations
    one deployment holds; the listing index of the channels work replaces it.)"""
    if payload.get("action") != "created":
        return WebhookResult(202, "comment not created")
    number = (payload.get("issue") or {}).get("number")
    repo = (payload.get("repository") or {}).get("full_name", "")
    for inv in stores().investigations.list(limit=500):
        pr = inv.pull_request
        if pr is not None and pr.number == number and inv.github_repo == repo:
            comment = payload.get("comment") or {}
            return _answer(
                post_message(
                    inv.investigation_id,
                    text=f"Comment on pull request #{number}: {comment.get('body', '')}",
                    author=(comment.get("user") or {}).get("login", "someone"),
                    channel="github",
                    delivery_id=delivery,
                )
            )
    return WebhookResult(202, "not a fixloop pull request")
