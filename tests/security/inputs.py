"""What the input tests share: an investigation waiting on a question (with its Slack thread
and Linear issue), requests of any bytes signed as Slack, Linear and GitHub sign them, and
whether anything reached the investigation."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fixloop.domain import UserMessage
from fixloop.store import stores
from tests.integration.channels import GITHUB_SECRET, LINEAR_SECRET, SLACK_SECRET, Channels
from tests.integration.scenario import log_of, start_scripted
from tests.support import tool_use, wait_for


def waiting(investigation_id: str) -> bool:
    return stores().waits.get(investigation_id) is not None


def messages_of(investigation_id: str) -> list[UserMessage]:
    return [e.event for e in log_of(investigation_id) if isinstance(e.event, UserMessage)]


def texts_reached(investigation_id: str) -> list[str]:
    """The texts of the messages stored for it: in its log, then pending in its inbox."""
    logged = [m.text for m in messages_of(investigation_id)]
    return logged + [m.text for m in stores().inbox.pending(investigation_id)]


def nothing_reached(investigation_id: str) -> bool:
    """No message of any channel is pending for it or in its log."""
    return not stores().inbox.pending(investigation_id) and not messages_of(investigation_id)


@contextmanager
def waiting_investigation(
    channels: Channels, repo: Path, script: Path, questions: int = 2
) -> Iterator[str]:
    """An investigation waiting on the first of ``questions`` questions, with its Slack
    thread and Linear issue; it is answered at the end so it finishes."""
    turns = [[tool_use("ask_human", question=f"Question {n}?")] for n in range(questions)]
    turns.append([tool_use("finish", summary="Done.")])
    inv_id = start_scripted(repo, turns, script, github_repo="acme/svc")
    wait_for(lambda: waiting(inv_id), what="the question")
    wait_for(lambda: bool(stores().investigations.get(inv_id).linear_issue_id), what="the issue")
    try:
        yield inv_id
    finally:
        for n in range(questions + 1):
            if stores().investigations.get(inv_id).is_open and waiting(inv_id):
                channels.message(inv_id, "cleanup", delivery_id=f"cleanup-{n}")
            time.sleep(0.2)


def send(
    url: str, path: str, body: bytes, headers: dict[str, str] | None = None, method: str = "POST"
) -> tuple[int, dict[str, Any]]:
    """One request with exactly these bytes; the status and the JSON answer ({} if none)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        raw = resp.read()
    finally:
        conn.close()
    try:
        answer = json.loads(raw) if raw else {}
    except ValueError:
        answer = {"raw": raw.decode("utf-8", "replace")}
    return resp.status, answer if isinstance(answer, dict) else {"json": answer}


def github_headers(body: bytes, event: str = "pull_request_review_comment") -> dict[str, str]:
    digest = hmac.new(GITHUB_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": f"d-{time.monotonic_ns()}",
        "X-Hub-Signature-256": f"sha256={digest}",
        "Content-Type": "application/json",
    }


def slack_headers(body: bytes, stamp: str | None = None) -> dict[str, str]:
    """Signed as Slack signs (slack-sdk's own signer wants UTF-8 bodies, these may not be)."""
    stamp = stamp or str(int(time.time()))
    base = b"v0:" + stamp.encode() + b":" + body
    signature = "v0=" + hmac.new(SLACK_SECRET.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature}


def linear_headers(body: bytes) -> dict[str, str]:
    digest = hmac.new(LINEAR_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"Linear-Signature": digest, "Content-Type": "application/json"}


def deep(levels: int = 5_000) -> bytes:
    """JSON nested ``levels`` deep: enough to exhaust a recursive parser."""
    return b'{"a":' * levels + b"1" + b"}" * levels
