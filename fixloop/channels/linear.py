"""Linear: webhooks in (signed), the investigation's issue out (GraphQL over HTTPS).

Inbound deliveries are verified as Linear documents: ``Linear-Signature`` is the hex
HMAC-SHA256 of the raw body keyed with the webhook's signing secret, and the payload's
``webhookTimestamp`` (milliseconds) must be within a minute of now, so a captured delivery
cannot be replayed later. A comment created on an investigation's linked issue becomes a
message, its comment id the delivery id (a redelivery is stored once).

Outbound, ``issueCreate`` (when a team is configured and the investigation has no issue) and
``commentCreate`` are POSTed to the GraphQL endpoint. Each mutation passes an ``id`` derived
from the investigation and what is posted, so a retried post cannot create a second issue
or comment: Linear refuses an id it already has.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any

from fixloop.config import get_settings
from fixloop.conversation.inbox import post_message
from fixloop.credentials.secrets import secret_value
from fixloop.domain import Investigation
from fixloop.errors import TransientError
from fixloop.store import InvestigationNotFound, stores

MAX_AGE_SECONDS = 60
_ID_NAMESPACE = uuid.UUID("6f6c2b1e-8d0c-4b7e-9a55-5f1c0f1e0b6a")


@dataclass(frozen=True)
class LinearResult:
    status: int
    message: str


def webhook_secret() -> str:
    s = get_settings()
    return secret_value(s.linear_webhook_secret_arn, s.linear_webhook_secret)


def signature_valid(secret: str, body: bytes, header: str | None) -> bool:
    if not secret or not header:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.strip().lower())


def handle_webhook(
    secret: str, headers: dict[str, str], body: bytes, *, now: float | None = None
) -> LinearResult:
    h = {k.lower(): v for k, v in headers.items()}
    if not signature_valid(secret, body, h.get("linear-signature")):
        return LinearResult(401, "signature missing or wrong")
    try:
        payload = json.loads(body)
        stamp = int(payload["webhookTimestamp"]) / 1000
    except (ValueError, KeyError, TypeError):
        return LinearResult(400, "body is not a Linear webhook payload")
    if abs((time.time() if now is None else now) - stamp) > MAX_AGE_SECONDS:
        return LinearResult(401, "webhookTimestamp is stale: not a fresh delivery")
    if payload.get("type") != "Comment" or payload.get("action") != "create":
        return LinearResult(200, f"{payload.get('type')}/{payload.get('action')} needs nothing")
    data = payload.get("data") or {}
    comment_id = str(data.get("id") or "")
    st = stores()
    if st.inbox.linked(f"linear-own#{comment_id}"):
        return LinearResult(200, "fixloop's own comment")
    investigation_id = st.inbox.linked(f"linear#{data.get('issueId')}")
    if investigation_id is None:
        return LinearResult(200, "not an investigation's issue")
    user = data.get("user") or payload.get("actor") or {}
    try:
        posted = post_message(
            investigation_id,
            text=str(data.get("body", "")),
            author=str(user.get("name") or user.get("id") or "someone"),
            channel="linear",
            delivery_id=comment_id,
        )
    except InvestigationNotFound:
        return LinearResult(200, "investigation gone")
    if posted.outcome == "closed":
        # 200 all the same: any other answer makes Linear retry a delivery that cannot succeed
        return LinearResult(200, f"investigation is {posted.status}: message not taken")
    return LinearResult(200, posted.outcome)


# -- outbound --------------------------------------------------------------------------------
_ISSUE_CREATE = """mutation IssueCreate($input: IssueCreateInput!) {
  issueCreate(input: $input) { success issue { id identifier url } }
}"""
_COMMENT_CREATE = """mutation CommentCreate($input: CommentCreateInput!) {
  commentCreate(input: $input) { success comment { id } }
}"""


def _graphql(query: str, variables: dict[str, Any]) -> dict[str, Any]:
    s = get_settings()
    key = secret_value(s.linear_api_key_arn, s.linear_api_key)
    request = urllib.request.Request(
        s.linear_api_url,
        data=json.dumps({"query": query, "variables": variables}).encode(),
        headers={"Content-Type": "application/json", "Authorization": key},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            answer: dict[str, Any] = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 429 or exc.code >= 500:
            raise TransientError(f"Linear API answered {exc.code}") from exc
        raise
    except urllib.error.URLError as exc:
        raise TransientError(f"Linear API unreachable: {exc.reason}") from exc
    return answer


def _already_exists(answer: dict[str, Any]) -> bool:
    """Linear refused an id it has: an earlier attempt of this very post succeeded."""
    return any(
        "already exists" in str(e.get("message", "")).lower()
        or (e.get("extensions") or {}).get("code") == "CONFLICT"
        for e in answer.get("errors") or []
    )


def configured() -> bool:
    s = get_settings()
    return bool(s.linear_api_key_arn or s.linear_api_key)


def post(inv: Investigation, key: str, text: str) -> None:
    """Comment ``text`` on the investigation's issue (creating one in the configured team if
    it has none), once per ``key``."""
    if not configured():
        return
    st = stores()
    record_key = f"{inv.investigation_id}#{key}"
    if st.inbox.post_record("linear", record_key):
        return
    issue = inv.linear_issue_id
    if not issue:
        team = get_settings().linear_team_id
        if not team:
            return
        issue_id = str(uuid.uuid5(_ID_NAMESPACE, f"{inv.investigation_id}#issue"))
        answer = _graphql(
            _ISSUE_CREATE,
            {
                "input": {
                    "id": issue_id,
                    "teamId": team,
                    "title": f"fixloop: {inv.title}"[:255],
                    "description": f"fixloop investigation `{inv.investigation_id}`.",
                }
            },
        )
        if answer.get("errors") and not _already_exists(answer):
            raise TransientError(f"Linear issueCreate failed: {answer['errors']}")
        issue = st.investigations.set_linear_issue(inv.investigation_id, issue_id)
        st.inbox.link(f"linear#{issue}", inv.investigation_id)
    comment_id = str(uuid.uuid5(_ID_NAMESPACE, record_key))
    st.inbox.link(f"linear-own#{comment_id}", inv.investigation_id)
    answer = _graphql(
        _COMMENT_CREATE, {"input": {"id": comment_id, "issueId": issue, "body": text}}
    )
    if answer.get("errors") and not _already_exists(answer):
        raise TransientError(f"Linear commentCreate failed: {answer['errors']}")
    st.inbox.record_post("linear", record_key, comment_id=comment_id)


def link_issue(investigation_id: str, issue_id: str) -> None:
    """Link an existing Linear issue to an investigation: its comments become messages."""
    stores().investigations.set_linear_issue(investigation_id, issue_id)
    stores().inbox.link(f"linear#{issue_id}", investigation_id)
