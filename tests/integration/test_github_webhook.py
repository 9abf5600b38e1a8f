"""GitHub webhooks: signed deliveries bring review feedback back to a delivered
investigation (which revises its pull request), and merge or close end it."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fixloop.domain import UserMessage
from fixloop.local.handlers import FUNCTIONS_DIR, LocalLambdaContext, load_module
from fixloop.store import stores
from tests.integration.scenario import log_of, start_scripted
from tests.runtime import LocalRuntime
from tests.support import tool_use

SECRET = "webhook-secret"


@pytest.fixture
def webhook(runtime: LocalRuntime) -> Iterator[Any]:
    runtime.configure(github_webhook_secret=SECRET)
    module = load_module(FUNCTIONS_DIR / "github_webhook" / "handler.py", "github_webhook_test")
    module.webhook_secret.cache_clear()
    yield module.lambda_handler
    module.webhook_secret.cache_clear()
    runtime.configure(github_webhook_secret=None)


def _send(
    handler: Any,
    event: str,
    payload: dict[str, Any],
    *,
    secret: str | None = SECRET,
    delivery: str | None = None,
) -> tuple[int, str]:
    body = json.dumps(payload)
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "Content-Type": "application/json",
    }
    if secret is not None:
        digest = hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()
        headers["X-Hub-Signature-256"] = f"sha256={digest}"
    api_event = {
        "resource": "/webhooks/github",
        "path": "/webhooks/github",
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "requestContext": {"resourcePath": "/webhooks/github", "httpMethod": "POST"},
        "body": body,
        "isBase64Encoded": False,
    }
    response = handler(api_event, LocalLambdaContext("fixloop-github_webhook"))
    return response["statusCode"], json.loads(response["body"])["message"]


def _pull_payload(investigation_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "pull_request": {
            "number": 1,
            "head": {"ref": f"fixloop/{investigation_id}"},
            "merged": False,
        },
        "repository": {"full_name": "acme/svc"},
        "sender": {"login": "reviewer"},
        **extra,
    }


def test_unsigned_or_wrongly_signed_deliveries_are_refused(webhook: Any) -> None:
    payload = _pull_payload("inv-x", action="closed")
    assert _send(webhook, "pull_request", payload, secret=None) == (
        401,
        "signature missing or wrong",
    )
    assert _send(webhook, "pull_request", payload, secret="other")[0] == 401
    assert _send(webhook, "ping", {"zen": "hi"}) == (200, "pong")


def test_review_feedback_revises_the_pull_request_and_merge_closes_it(
    runtime: LocalRuntime, repo: Path, tmp_path: Path, webhook: Any
) -> None:
    # Given an investigation that delivered a pull request, whose model will revise it
    turns = [
        [tool_use("edit_file", path="app/util.py", old_text="return x", new_text="return x or 0")],
        [tool_use("open_pull_request", title="Default to 0", body="First version.")],
        [tool_use("edit_file", path="app/util.py", old_text="x or 0", new_text="x or None")],
        [tool_use("open_pull_request", title="Default to None", body="As requested.")],
    ]
    investigation_id = start_scripted(repo, turns, tmp_path / "s.jsonl")
    runtime.watcher.wait(investigation_id, timeout_s=60)
    first = stores().investigations.get(investigation_id)
    assert first.status == "delivered" and first.pull_request is not None

    # When a reviewer requests changes
    review = _pull_payload(
        investigation_id,
        action="submitted",
        review={
            "state": "changes_requested",
            "body": "Return None, not 0.",
            "author_association": "COLLABORATOR",
        },
    )
    status, message = _send(webhook, "pull_request_review", review, delivery="d-1")
    # Then the message reaches the log before the next turn and the loop revises the PR
    assert (status, message) == (200, "posted")
    runtime.watcher.wait(investigation_id, timeout_s=60)
    revised = stores().investigations.get(investigation_id)
    assert revised.status == "delivered"
    assert revised.pull_request is not None
    assert revised.pull_request.number == first.pull_request.number
    assert revised.pull_request.head_sha != first.pull_request.head_sha
    log = log_of(investigation_id)
    messages = [(e.position, e.event) for e in log if isinstance(e.event, UserMessage)]
    assert len(messages) == 1
    assert messages[0][1].text == (
        "Review of pull request #1 (requested changes): Return None, not 0."
    )
    assert messages[0][0].startswith("t000003.0.")
    assert revised.generation == first.generation + 1

    # When GitHub redelivers the same review
    assert _send(webhook, "pull_request_review", review, delivery="d-1") == (
        202,
        "duplicate delivery",
    )
    # Then nothing new happens
    assert len([e for e in log_of(investigation_id) if e.event.type == "user_message"]) == 1

    # When the pull request is merged
    merged = _pull_payload(investigation_id, action="closed")
    merged["pull_request"]["merged"] = True
    assert _send(webhook, "pull_request", merged) == (200, "merged")
    # Then the investigation is merged, and its fix followed to production (fixloop.aftercare)
    final = stores().investigations.get(investigation_id)
    assert final.status == "merged"
    assert final.outcome == "pull request #1 merged by reviewer"
    assert final.aftercare is not None and final.aftercare.pull_request_number == 1


def test_closing_unmerged_rejects(
    runtime: LocalRuntime, repo: Path, tmp_path: Path, webhook: Any
) -> None:
    turns = [
        [tool_use("write_file", path="x.txt", content="x\n")],
        [tool_use("open_pull_request", title="x", body="x")],
    ]
    investigation_id = start_scripted(repo, turns, tmp_path / "s.jsonl")
    runtime.watcher.wait(investigation_id, timeout_s=60)
    assert _send(webhook, "pull_request", _pull_payload(investigation_id, action="closed")) == (
        200,
        "rejected",
    )
    assert stores().investigations.get(investigation_id).status == "rejected"
    # and a pull request fixloop did not open is left alone
    other = {"pull_request": {"number": 9, "head": {"ref": "feature/x"}}, "action": "closed"}
    assert _send(webhook, "pull_request", other) == (202, "not a fixloop pull request")
