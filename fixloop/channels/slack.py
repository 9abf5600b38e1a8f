"""Slack: the Events API in (signed requests), one thread per investigation out (slack-sdk).

Inbound requests are verified as Slack documents: ``X-Slack-Signature`` is ``v0=`` and the
hex HMAC-SHA256, keyed with the app's signing secret, of ``v0:{X-Slack-Request-Timestamp}:
{raw body}``; a timestamp more than five minutes from now is refused (a replay). A reply in
an investigation's thread becomes a message; Slack's retries (``X-Slack-Retry-Num``) carry
the same ``event_id``, which is the message's delivery id, so they are stored once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient

from fixloop.config import get_settings
from fixloop.conversation.inbox import Posted, post_message
from fixloop.credentials.secrets import secret_value
from fixloop.domain import Investigation
from fixloop.store import InvestigationNotFound, stores

MAX_CLOCK_SKEW_SECONDS = 300


@dataclass(frozen=True)
class SlackRequest:
    """A verified request: what to answer now, and the event to process (maybe later)."""

    status: int
    body: dict[str, Any]
    event: dict[str, Any] | None = None


def signing_secret() -> str:
    s = get_settings()
    return secret_value(s.slack_signing_secret_arn, s.slack_signing_secret)


def signature_valid(
    secret: str, headers: dict[str, str], body: bytes, *, now: float | None = None
) -> bool:
    h = {k.lower(): v for k, v in headers.items()}
    stamp, given = h.get("x-slack-request-timestamp", ""), h.get("x-slack-signature", "")
    if not secret or not stamp.isdigit() or not given.startswith("v0="):
        return False
    if abs((time.time() if now is None else now) - int(stamp)) > MAX_CLOCK_SKEW_SECONDS:
        return False
    base = b"v0:" + stamp.encode() + b":" + body
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given)


def receive(secret: str, headers: dict[str, str], body: bytes) -> SlackRequest:
    """Verify and triage one request; the caller acknowledges with ``status``/``body`` and
    hands ``event`` to :func:`process` (asynchronously in AWS)."""
    if not signature_valid(secret, headers, body):
        return SlackRequest(401, {"message": "signature missing, wrong or stale"})
    try:
        payload = json.loads(body)
    except ValueError:
        return SlackRequest(400, {"message": "body is not JSON"})
    if not isinstance(payload, dict):
        return SlackRequest(400, {"message": "body is not a JSON object"})
    if payload.get("type") == "url_verification":
        return SlackRequest(200, {"challenge": payload.get("challenge", "")})
    if payload.get("type") != "event_callback":
        return SlackRequest(200, {"message": "ignored"})
    return SlackRequest(200, {"message": "accepted"}, event=payload)


def process(payload: dict[str, Any]) -> str:
    """Turn a reply in an investigation's thread into a message; what happened, in words."""
    event = payload.get("event") or {}
    if event.get("type") != "message" or event.get("bot_id") or event.get("subtype"):
        return "not a person's message"
    thread = str(event.get("thread_ts") or "")
    if not thread:
        return "not in a thread"
    investigation_id = stores().inbox.linked(f"slack#{event.get('channel')}#{thread}")
    if investigation_id is None:
        return "not an investigation's thread"
    try:
        posted = post_message(
            investigation_id,
            text=str(event.get("text", "")),
            author=str(event.get("user", "someone")),
            channel="slack",
            delivery_id=str(payload.get("event_id") or event.get("client_msg_id") or ""),
        )
    except InvestigationNotFound:
        return "investigation gone"
    return _describe(posted)


def _describe(posted: Posted) -> str:
    if posted.outcome == "closed":
        return f"investigation is {posted.status}: message not taken"
    return posted.outcome


# -- outbound --------------------------------------------------------------------------------
def client() -> WebClient | None:
    s = get_settings()
    if not s.slack_channel:
        return None  # not configured: no secret read either
    token = secret_value(s.slack_bot_token_arn, s.slack_bot_token)
    return WebClient(token=token, base_url=s.slack_api_url) if token else None


def post(inv: Investigation, key: str, text: str) -> None:
    """Post ``text`` into the investigation's thread (starting it if needed), once per
    ``key``: a retried step finds the record of its post and does not post again."""
    web = client()
    if web is None:
        return
    st = stores()
    record_key = f"{inv.investigation_id}#{key}"
    if st.inbox.post_record("slack", record_key):
        return
    channel, thread = inv.slack_channel, inv.slack_thread_ts
    if not thread:
        channel = get_settings().slack_channel
        root = web.chat_postMessage(
            channel=channel,
            text=f"🔎 fixloop is investigating: {inv.title} ({inv.investigation_id})",
        )
        thread = str(root["ts"])
        channel = str(root.get("channel") or channel)
        thread = st.investigations.set_slack_thread(inv.investigation_id, channel, thread)
        st.inbox.link(f"slack#{channel}#{thread}", inv.investigation_id)
    sent = web.chat_postMessage(channel=channel, text=text, thread_ts=thread)
    st.inbox.record_post("slack", record_key, ts=str(sent["ts"]))
