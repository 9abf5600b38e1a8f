"""Requests signed the way Slack, Linear and GitHub sign them, sent to the local server."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from slack_sdk.signature import SignatureVerifier

from fixloop.channels import github as github_channel
from fixloop.channels.learned import forget_all
from fixloop.local.gateway import gateway_routes
from fixloop.local.server import LocalServer
from tests.fakes.linear_server import LinearServer
from tests.fakes.slack_server import SlackServer
from tests.runtime import LocalRuntime

SLACK_SECRET = "slack-signing-secret"
LINEAR_SECRET = "linear-webhook-secret"
GITHUB_SECRET = "github-webhook-secret"
SLACK_TOKEN = "xoxb-test-token"
LINEAR_KEY = "lin_api_test"
SLACK_CHANNEL = "C0FIXLOOP"
LINEAR_TEAM = "team-1"
SLACK_TEAM = "T1"
SLACK_APP = "A1"
LINEAR_ORGANIZATION = "org-1"


@dataclass
class Channels:
    url: str
    slack_api: SlackServer
    linear_api: LinearServer

    def post(
        self, path: str, body: bytes, headers: dict[str, str] | None = None, method: str = "POST"
    ) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(
            self.url + path,
            data=body if method == "POST" else None,
            headers={"Content-Type": "application/json", **(headers or {})},
            method=method,
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def get(self, path: str) -> tuple[int, dict[str, Any]]:
        return self.post(path, b"", method="GET")

    # -- Slack -------------------------------------------------------------------------
    def slack(
        self,
        payload: dict[str, Any],
        *,
        secret: str = SLACK_SECRET,
        age_s: float = 0,
        signed: bool = True,
        retry: int | None = None,
    ) -> tuple[int, dict[str, Any]]:
        body = json.dumps(payload).encode()
        headers: dict[str, str] = {}
        if signed:
            stamp = str(int(time.time() - age_s))
            headers = {
                "X-Slack-Request-Timestamp": stamp,
                "X-Slack-Signature": str(
                    SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
                ),
            }
        if retry is not None:
            headers["X-Slack-Retry-Num"] = str(retry)
            headers["X-Slack-Retry-Reason"] = "http_timeout"
        return self.post("/webhooks/slack", body, headers)

    def slack_reply(
        self, thread_ts: str, text: str, *, event_id: str | None = None, user: str = "U1", **kw: Any
    ) -> tuple[int, dict[str, Any]]:
        return self.slack(slack_event(thread_ts, text, event_id=event_id, user=user), **kw)

    # -- Linear ------------------------------------------------------------------------
    def linear(
        self, payload: dict[str, Any], *, secret: str = LINEAR_SECRET, signed: bool = True
    ) -> tuple[int, dict[str, Any]]:
        body = json.dumps(payload).encode()
        headers = {"Linear-Event": str(payload.get("type")), "Linear-Delivery": str(uuid.uuid4())}
        if signed:
            headers["Linear-Signature"] = hmac.new(
                secret.encode(), body, hashlib.sha256
            ).hexdigest()
        return self.post("/webhooks/linear", body, headers)

    # -- GitHub ------------------------------------------------------------------------
    def github(
        self, event: str, payload: dict[str, Any], *, delivery: str, secret: str = GITHUB_SECRET
    ) -> tuple[int, dict[str, Any]]:
        body = json.dumps(payload).encode()
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        headers = {
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": f"sha256={digest}",
        }
        return self.post("/webhooks/github", body, headers)

    # -- REST --------------------------------------------------------------------------
    def message(
        self, investigation_id: str, text: str, delivery_id: str = ""
    ) -> tuple[int, dict[str, Any]]:
        body = {"text": text, "author": "ana", "delivery_id": delivery_id}
        return self.post(f"/investigations/{investigation_id}/messages", json.dumps(body).encode())


def slack_event(
    thread_ts: str, text: str, *, event_id: str | None = None, user: str = "U1"
) -> dict[str, Any]:
    return {
        "type": "event_callback",
        "team_id": SLACK_TEAM,
        "api_app_id": SLACK_APP,
        "event_id": event_id or f"Ev{uuid.uuid4().hex[:10]}",
        "event_time": int(time.time()),
        "event": {
            "type": "message",
            "channel": SLACK_CHANNEL,
            "user": user,
            "text": text,
            "ts": f"{time.time():.6f}",
            "thread_ts": thread_ts,
        },
    }


def linear_comment(
    issue_id: str, body: str, comment_id: str | None = None, age_s: float = 0
) -> dict[str, Any]:
    return {
        "action": "create",
        "type": "Comment",
        "createdAt": "2026-11-26T12:00:00.000Z",
        "data": {
            "id": comment_id or str(uuid.uuid4()),
            "body": body,
            "issueId": issue_id,
            "user": {"id": "u-1", "name": "Bo"},
        },
        "url": "https://linear.app/acme/issue/ENG-1#comment",
        "webhookTimestamp": int((time.time() - age_s) * 1000),
        "webhookId": "wh-1",
        "organizationId": LINEAR_ORGANIZATION,
    }


def review_comment(investigation_id: str, body: str) -> dict[str, Any]:
    return {
        "action": "created",
        "pull_request": {"number": 1, "head": {"ref": f"fixloop/{investigation_id}"}},
        "comment": {
            "body": body,
            "path": "app/util.py",
            "line": 2,
            "author_association": "MEMBER",
        },
        "repository": {"full_name": "acme/svc"},
        "sender": {"login": "reviewer"},
    }


SETTINGS = {
    "slack_signing_secret": SLACK_SECRET,
    "slack_bot_token": SLACK_TOKEN,
    "slack_channel": SLACK_CHANNEL,
    "linear_webhook_secret": LINEAR_SECRET,
    "linear_api_key": LINEAR_KEY,
    "linear_team_id": LINEAR_TEAM,
    "github_webhook_secret": GITHUB_SECRET,
}
"""As deployed by default: the workspace, app and organization whose people are heard are
not configured, but learned from the bot token and the API key (the local Slack and Linear
say they are :data:`SLACK_TEAM`, :data:`SLACK_APP` and :data:`LINEAR_ORGANIZATION`)."""
PEOPLE = ("slack_team_id", "slack_app_id", "linear_organization_id")


@contextmanager
def serving(runtime: LocalRuntime) -> Iterator[Channels]:
    """The webhooks and REST API on the local server, Slack and Linear on local servers."""
    slack_api = SlackServer(token=SLACK_TOKEN, team_id=SLACK_TEAM, app_id=SLACK_APP)
    linear_api = LinearServer(api_key=LINEAR_KEY, organization_id=LINEAR_ORGANIZATION)
    with slack_api as slack, linear_api as linear:
        runtime.configure(**SETTINGS, slack_api_url=slack.api_url, linear_api_url=linear.url)
        github_channel.webhook_secret.cache_clear()
        forget_all()
        try:
            with LocalServer(gateway_routes()) as server:
                yield Channels(server.url, slack, linear)
        finally:
            unset = dict.fromkeys((*SETTINGS, *PEOPLE))
            runtime.configure(**unset, slack_api_url=None, linear_api_url=None)
            github_channel.webhook_secret.cache_clear()
            forget_all()
