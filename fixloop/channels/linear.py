"""Linear: webhooks in (signed), the investigation's issue out (GraphQL over HTTPS).

Inbound deliveries are verified as Linear documents: ``Linear-Signature`` is the hex
HMAC-SHA256 of the raw body keyed with the webhook's signing secret, and the payload's
``webhookTimestamp`` (milliseconds) must be within a minute of now, so a captured delivery
cannot be replayed later. A comment created on an investigation's linked issue becomes a
message, its comment id the delivery id (a redelivery is stored once; a comment without an
id gets one derived from its issue, author, time and text).

Only comments from the organization the webhook belongs to (``organizationId`` must be
``FIXLOOP_LINEAR_ORGANIZATION_ID``, by default the API key's organization), and from the users
of ``FIXLOOP_LINEAR_ALLOWED_USERS`` and issues of the teams of ``FIXLOOP_LINEAR_ALLOWED_TEAMS``
when those are set, reach the agent; others are acknowledged (200), logged, never stored.
The API key's organization (``query { organization { id } }``) is kept an hour per process
(:mod:`fixloop.channels.learned`); while Linear cannot say, a comment is answered 503 so that
Linear delivers it again later, and nothing is accepted without the id or a key.

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

from aws_lambda_powertools import Logger
from pydantic import BaseModel, ConfigDict, Field

from fixloop.channels.learned import Learned, credential_key
from fixloop.config import get_settings, id_list
from fixloop.conversation.inbox import content_delivery_id, post_message
from fixloop.credentials.secrets import secret_value
from fixloop.domain import Investigation, clean_title
from fixloop.domain.payloads import parse_model
from fixloop.errors import BadInputError, TransientError
from fixloop.store import InvestigationNotFound, stores

MAX_AGE_SECONDS = 60
LOOKUP_TIMEOUT_SECONDS = 3
"""How long the lookup of the API key's organization may take: Linear wants the webhook's
answer within five seconds."""
_ID_NAMESPACE = uuid.UUID("6f6c2b1e-8d0c-4b7e-9a55-5f1c0f1e0b6a")
logger = Logger(child=True)


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


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _LinearUser(_Model):
    id: str = ""
    name: str = ""


class LinearPayload(_Model):
    """A webhook delivery: what fixloop reads of any of them."""

    type: str = ""
    action: str = ""
    webhookTimestamp: int = Field(ge=0, lt=10**15)
    """Milliseconds since 1970."""
    organizationId: str = ""
    createdAt: str = ""
    actor: _LinearUser | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    """Its shape depends on ``type``: read as :class:`LinearComment` for comments."""


class _LinearIssue(_Model):
    id: str = ""
    teamId: str = ""


class LinearComment(_Model):
    id: str = ""
    body: str = ""
    issueId: str = ""
    userId: str = ""
    createdAt: str = ""
    user: _LinearUser | None = None
    issue: _LinearIssue | None = None


def handle_webhook(
    secret: str, headers: dict[str, str], body: bytes, *, now: float | None = None
) -> LinearResult:
    h = {k.lower(): v for k, v in headers.items()}
    if not signature_valid(secret, body, h.get("linear-signature")):
        return LinearResult(401, "signature missing or wrong")
    try:
        payload = parse_model(LinearPayload, body)
    except BadInputError as exc:
        return LinearResult(400, f"not a Linear webhook payload: {exc}")
    stamp = payload.webhookTimestamp / 1000
    if abs((time.time() if now is None else now) - stamp) > MAX_AGE_SECONDS:
        return LinearResult(401, "webhookTimestamp is stale: not a fresh delivery")
    if payload.type != "Comment" or payload.action != "create":
        return LinearResult(200, f"{payload.type}/{payload.action} needs nothing")
    try:
        data = parse_model(LinearComment, payload.data, what="the comment (data)")
    except BadInputError as exc:
        return LinearResult(400, str(exc))
    st = stores()
    if data.id and st.inbox.linked(f"linear-own#{data.id}"):
        return LinearResult(200, "fixloop's own comment")
    user = data.user or payload.actor or _LinearUser()
    user_id = data.userId or user.id
    try:
        refusal = _unauthorised(payload, data, user_id)
    except TransientError as exc:
        logger.warning(
            "linear comment not checked: Linear will deliver it again",
            extra={"reason": str(exc), "organization": payload.organizationId},
        )
        return LinearResult(503, "cannot check the organization now; deliver again later")
    if refusal:
        logger.warning(
            "linear comment refused",
            extra={"reason": refusal, "organization": payload.organizationId, "user": user_id},
        )
        return LinearResult(200, f"refused: {refusal}")
    investigation_id = st.inbox.linked(f"linear#{data.issueId}")
    if investigation_id is None:
        return LinearResult(200, "not an investigation's issue")
    author = user.name or user_id or "someone"
    delivery = data.id or content_delivery_id(
        "linear",
        author=author,
        text=data.body,
        sent_at=data.createdAt or payload.createdAt,
        where=data.issueId,
    )
    try:
        posted = post_message(
            investigation_id, text=data.body, author=author, channel="linear", delivery_id=delivery
        )
    except InvestigationNotFound:
        return LinearResult(200, "investigation gone")
    if posted.outcome == "closed":
        # 200 all the same: any other answer makes Linear retry a delivery that cannot succeed
        return LinearResult(200, f"investigation is {posted.status}: message not taken")
    return LinearResult(200, posted.outcome)


def _unauthorised(payload: LinearPayload, comment: LinearComment, user_id: str) -> str:
    """Why this comment may not reach the agent ("" if it may): only the organization the
    webhook belongs to, and the allowed users and teams when lists are configured. Raises
    :class:`TransientError` when the organization cannot be learned now."""
    s = get_settings()
    organization = organization_id()
    if not organization:
        return (
            "FIXLOOP_LINEAR_ORGANIZATION_ID must be set to accept comments, or the API key "
            "(FIXLOOP_LINEAR_API_KEY_ARN) it is learned from"
        )
    if payload.organizationId != organization:
        return f"organization {payload.organizationId or '(none)'} is not this webhook's"
    users = id_list(s.linear_allowed_users)
    if users and user_id not in users:
        return f"user {user_id or '(none)'} is not in FIXLOOP_LINEAR_ALLOWED_USERS"
    teams = id_list(s.linear_allowed_teams)
    team = comment.issue.teamId if comment.issue else ""
    if teams and team not in teams:
        return f"team {team or '(none)'} is not in FIXLOOP_LINEAR_ALLOWED_TEAMS"
    return ""


# -- the organization, configured or learned from the API key --------------------------------
_ORGANIZATION = "query Organization { organization { id } }"
_ORGANIZATIONS: Learned[str] = Learned()
_FIX_KEY = (
    "put a valid Linear API key in the FIXLOOP_LINEAR_API_KEY_ARN secret, or set "
    "FIXLOOP_LINEAR_ORGANIZATION_ID"
)


def organization_id() -> str:
    """The organization whose people may comment: the configured one, else the API key's
    (learned once an hour); "" without either. Raises :class:`TransientError` when Linear
    cannot say now."""
    s = get_settings()
    if s.linear_organization_id:
        return s.linear_organization_id
    key = secret_value(s.linear_api_key_arn, s.linear_api_key)
    if not key:
        return ""
    return _ORGANIZATIONS.get(credential_key(s.linear_api_url, key), _organization_of_key)


def _organization_of_key() -> str:
    try:
        answer: Any = _graphql(_ORGANIZATION, {}, timeout=LOOKUP_TIMEOUT_SECONDS)
    except urllib.error.HTTPError as exc:  # 4xx: _graphql raised 429 and 5xx as transient
        raise TransientError(
            f"Linear refused the organization query ({exc.code}): {_FIX_KEY}"
        ) from exc
    except (OSError, ValueError) as exc:  # a read that timed out, an answer that is no JSON
        raise TransientError(f"Linear's organization query failed: {exc}") from exc
    data = answer.get("data") if isinstance(answer, dict) else None
    organization = data.get("organization") if isinstance(data, dict) else None
    found = organization.get("id") if isinstance(organization, dict) else None
    if not isinstance(found, str) or not found:
        errors = answer.get("errors") if isinstance(answer, dict) else answer
        raise TransientError(f"Linear answered no organization ({errors}): {_FIX_KEY}")
    return found


# -- outbound --------------------------------------------------------------------------------
_ISSUE_CREATE = """mutation IssueCreate($input: IssueCreateInput!) {
  issueCreate(input: $input) { success issue { id identifier url } }
}"""
_COMMENT_CREATE = """mutation CommentCreate($input: CommentCreateInput!) {
  commentCreate(input: $input) { success comment { id } }
}"""


def _graphql(query: str, variables: dict[str, Any], *, timeout: float = 10) -> dict[str, Any]:
    s = get_settings()
    key = secret_value(s.linear_api_key_arn, s.linear_api_key)
    request = urllib.request.Request(
        s.linear_api_url,
        data=json.dumps({"query": query, "variables": variables}).encode(),
        headers={"Content-Type": "application/json", "Authorization": key},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
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
                    "title": f"fixloop: {clean_title(inv.title)}",
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
