"""Slack: the Events API in (signed requests), one thread per investigation out (slack-sdk).

Inbound requests are verified as Slack documents: ``X-Slack-Signature`` is ``v0=`` and the
hex HMAC-SHA256, keyed with the app's signing secret, of ``v0:{X-Slack-Request-Timestamp}:
{raw body}``; a timestamp more than five minutes from now is refused (a replay). A reply in
an investigation's thread becomes a message; Slack's retries (``X-Slack-Retry-Num``) carry
the same ``event_id``, which is the message's delivery id, so they are stored once (an
event without one gets an id derived from its channel, thread, author, ``ts`` and text).

Only people of the workspace the app is installed in reach the agent: the event's
``team_id`` and ``api_app_id`` must be ``FIXLOOP_SLACK_TEAM_ID`` and ``FIXLOOP_SLACK_APP_ID``,
a Slack Connect guest from another workspace is refused, and with
``FIXLOOP_SLACK_ALLOWED_USERS`` only those users are heard. Unset, the workspace and app are
those of the bot token fixloop posts with: ``auth.test`` names its workspace (``team_id``)
and bot (``bot_id``), ``bots.info`` that bot's app (``app_id``; it needs the ``users:read``
scope). The answers are kept an hour per process (:mod:`fixloop.channels.learned`); a lookup
that fails is a :class:`~fixloop.errors.TransientError` for that message (the asynchronous
invocation is retried), never an acceptance. With neither the ids nor a bot token nothing is
accepted. A refused message is acknowledged like any other (Slack would retry anything
else), logged, and never stored. Outbound text is escaped as Slack asks, so no text fixloop
posts can mention a channel or hide a link.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger
from pydantic import BaseModel, ConfigDict, Field
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web import SlackResponse

from fixloop.channels.learned import Learned, credential_key
from fixloop.config import get_settings, id_list
from fixloop.conversation.inbox import Posted, content_delivery_id, post_message
from fixloop.credentials.secrets import secret_value
from fixloop.domain import Investigation, clean_title
from fixloop.domain.payloads import parse_json, parse_model
from fixloop.errors import BadInputError, TransientError
from fixloop.store import InvestigationNotFound, stores

MAX_CLOCK_SKEW_SECONDS = 300
LOOKUP_TIMEOUT_SECONDS = 10
"""How long a lookup of the bot's workspace or app may take (it runs in the asynchronous
half: Slack has had its answer)."""
_MAX_STAMP_DIGITS = 12
"""Seconds since 1970 have 10 digits until 2286; a longer "timestamp" is not one (and a
400-digit one would overflow the clock comparison)."""

logger = Logger(child=True)


class SlackEnvelope(BaseModel):
    """An Events API request (``url_verification`` or ``event_callback``); the event itself
    is only read for messages (:class:`SlackMessage`), whose shape fixloop relies on."""

    model_config = ConfigDict(extra="ignore")

    type: str
    challenge: str = ""
    team_id: str = ""
    api_app_id: str = ""
    event_id: str = ""
    event: dict[str, Any] = Field(default_factory=dict)


class SlackMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str
    subtype: str | None = None
    bot_id: str | None = None
    user: str = ""
    text: str = ""
    channel: str = ""
    ts: str = ""
    thread_ts: str = ""
    team: str = ""
    """The author's workspace: another one for a Slack Connect guest."""
    user_team: str = ""
    client_msg_id: str = ""


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
    if not secret or not given.startswith("v0="):
        return False
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= _MAX_STAMP_DIGITS):
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
        payload = parse_json(body)
        envelope = parse_model(SlackEnvelope, payload)
    except BadInputError as exc:
        return SlackRequest(400, {"message": str(exc)})
    if envelope.type == "url_verification":
        return SlackRequest(200, {"challenge": envelope.challenge})
    if envelope.type != "event_callback":
        return SlackRequest(200, {"message": "ignored"})
    return SlackRequest(200, {"message": "accepted"}, event=payload)


def process(payload: dict[str, Any]) -> str:
    """Turn a reply in an investigation's thread into a message; what happened, in words."""
    try:
        envelope = parse_model(SlackEnvelope, payload, what="Slack event")
        if envelope.event.get("type") != "message":
            return "not a person's message"
        event = parse_model(SlackMessage, envelope.event, what="Slack message")
    except BadInputError as exc:
        logger.warning("slack event refused", extra={"reason": str(exc)})
        return f"refused: {exc}"
    if event.bot_id or event.subtype:
        return "not a person's message"
    if not event.thread_ts:
        return "not in a thread"
    refusal = _unauthorised(envelope, event)
    if refusal:
        logger.warning(
            "slack message refused",
            extra={"reason": refusal, "team": envelope.team_id, "user": event.user},
        )
        return f"refused: {refusal}"
    investigation_id = stores().inbox.linked(f"slack#{event.channel}#{event.thread_ts}")
    if investigation_id is None:
        return "not an investigation's thread"
    author = event.user or "someone"
    delivery = envelope.event_id or event.client_msg_id
    if not delivery:
        delivery = content_delivery_id(
            "slack",
            author=author,
            text=event.text,
            sent_at=event.ts,
            where=f"{event.channel}#{event.thread_ts}",
        )
    try:
        posted = post_message(
            investigation_id, text=event.text, author=author, channel="slack", delivery_id=delivery
        )
    except InvestigationNotFound:
        return "investigation gone"
    return _describe(posted)


def _unauthorised(envelope: SlackEnvelope, event: SlackMessage) -> str:
    """Why this message may not reach the agent ("" if it may): only people of the workspace
    the app is installed in (a Slack Connect guest's ``team`` is another workspace), only
    for this app, and only the allowed users when a list is configured. Raises
    :class:`TransientError` when the workspace or app cannot be learned now."""
    s = get_settings()
    installed = installation()
    if isinstance(installed, str):
        return installed
    teams, app_id = installed
    if envelope.team_id not in teams:
        return f"workspace {envelope.team_id or '(none)'} is not this app's"
    if envelope.api_app_id != app_id:
        return f"app {envelope.api_app_id or '(none)'} is not this one"
    for team in (event.team, event.user_team):
        if team and team not in teams:
            return f"the author is from workspace {team}, not this app's"
    users = id_list(s.slack_allowed_users)
    if users and event.user not in users:
        return f"user {event.user or '(none)'} is not in FIXLOOP_SLACK_ALLOWED_USERS"
    return ""


# -- the workspace and app, configured or learned from the bot token ------------------------
@dataclass(frozen=True)
class _Bot:
    """What ``auth.test`` says of the bot token."""

    team_id: str
    bot_id: str
    enterprise: bool


_BOTS: Learned[_Bot] = Learned()
_APPS: Learned[str] = Learned()
_SET_IDS = "set FIXLOOP_SLACK_TEAM_ID and FIXLOOP_SLACK_APP_ID"
_FIXES = {
    **dict.fromkeys(
        ("not_authed", "invalid_auth", "account_inactive", "token_revoked", "token_expired"),
        f"put the app's bot token (xoxb-...) in the FIXLOOP_SLACK_BOT_TOKEN_ARN secret, "
        f"or {_SET_IDS}",
    ),
    "missing_scope": f"add the users:read scope to the app and reinstall it, or {_SET_IDS}",
    "bot_not_found": _SET_IDS,
}
"""How to fix what Slack answers about a bad token (its ``error`` code)."""


def installation() -> tuple[frozenset[str], str] | str:
    """The workspaces and the app whose people may reach the agent: the configured ones,
    else the bot token's (learned once an hour); or why there are none (a refusal that says
    how to fix it). Raises :class:`TransientError` when Slack cannot say now."""
    s = get_settings()
    teams, app_id = id_list(s.slack_team_id), s.slack_app_id
    if teams and app_id:
        return teams, app_id
    token = secret_value(s.slack_bot_token_arn, s.slack_bot_token)
    if not token:
        return (
            "FIXLOOP_SLACK_TEAM_ID and FIXLOOP_SLACK_APP_ID must be set to accept messages, "
            "or the bot token (FIXLOOP_SLACK_BOT_TOKEN_ARN) they are learned from"
        )
    web = WebClient(token=token, base_url=s.slack_api_url, timeout=LOOKUP_TIMEOUT_SECONDS)
    key = credential_key(s.slack_api_url, token)
    bot = _BOTS.get(key, lambda: _bot_of(web))
    if bot.enterprise:
        return f"the bot token is an Enterprise Grid organization's: {_SET_IDS}"
    if not teams:
        if not bot.team_id:
            return f"auth.test names no workspace for the bot token: {_SET_IDS}"
        teams = frozenset({bot.team_id})
    if not app_id:
        if not bot.bot_id:
            return f"the Slack token is not a bot token (auth.test names no bot): {_SET_IDS}"
        app_id = _APPS.get(key, lambda: _app_of(web, bot.bot_id))
        if not app_id:
            return f"bots.info names no app for the bot {bot.bot_id}: {_SET_IDS}"
    return teams, app_id


def _bot_of(web: WebClient) -> _Bot:
    answer = _ask("auth.test", web.auth_test)
    return _Bot(
        team_id=str(answer.get("team_id") or ""),
        bot_id=str(answer.get("bot_id") or ""),
        enterprise=bool(answer.get("is_enterprise_install")),
    )


def _app_of(web: WebClient, bot_id: str) -> str:
    bot = _ask("bots.info", lambda: web.bots_info(bot=bot_id)).get("bot")
    return str(bot.get("app_id") or "") if isinstance(bot, dict) else ""


def _ask(method: str, call: Callable[[], SlackResponse]) -> SlackResponse:
    """One Web API call; any failure a :class:`TransientError` (with the fix when Slack
    refused the token)."""
    try:
        return call()
    except SlackApiError as exc:
        code = str(exc.response.get("error") or exc.response.status_code)
        fix = _FIXES.get(code)
        raise TransientError(
            f"Slack {method} failed ({code})" + (f": {fix}" if fix else "")
        ) from exc
    except (SlackClientError, OSError) as exc:
        raise TransientError(f"Slack {method} unreachable: {exc}") from exc


def _describe(posted: Posted) -> str:
    if posted.outcome == "closed":
        return f"investigation is {posted.status}: message not taken"
    return posted.outcome


def escape(text: str) -> str:
    """Text for Slack with its control characters escaped, as Slack asks of every posted
    text: ``<!channel>``, ``<@U1>`` and ``<url|label>`` in it show as typed, inert."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


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
            text=escape(
                f"🔎 fixloop is investigating: {clean_title(inv.title)} ({inv.investigation_id})"
            ),
        )
        thread = str(root["ts"])
        channel = str(root.get("channel") or channel)
        thread = st.investigations.set_slack_thread(inv.investigation_id, channel, thread)
        st.inbox.link(f"slack#{channel}#{thread}", inv.investigation_id)
    sent = web.chat_postMessage(channel=channel, text=escape(text), thread_ts=thread)
    st.inbox.record_post("slack", record_key, ts=str(sent["ts"]))
