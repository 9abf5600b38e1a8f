"""Messages without a delivery id are stored, never dropped: each gets an id derived from its
channel, place, author, time and text, so a true redelivery is still stored once while two
different messages never collide (before, the second was taken for a redelivery of the
first: both had the empty id)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fixloop.channels import slack
from fixloop.conversation import post_message
from fixloop.store import stores
from tests.integration.channels import (
    Channels,
    linear_comment,
    review_comment,
    slack_event,
)
from tests.security.inputs import (
    github_headers,
    linear_headers,
    send,
    texts_reached,
    waiting_investigation,
)
from tests.support import wait_for


@pytest.fixture
def inv_id(channels: Channels, repo: Path, tmp_path: Path) -> Iterator[str]:
    with waiting_investigation(channels, repo, tmp_path / "s.jsonl", questions=12) as inv:
        yield inv


def _slack_without_ids(thread: str, text: str, ts: str) -> dict[str, Any]:
    payload = slack_event(thread, text, user="U_ANA")
    del payload["event_id"]
    payload["event"]["ts"] = ts
    return payload


def test_messages_without_delivery_ids_are_all_stored_and_redeliveries_once(
    channels: Channels, inv_id: str
) -> None:
    inv = stores().investigations.get(inv_id)
    expected: list[str] = []
    # Slack: two messages with no event_id nor client_msg_id, the first delivered twice
    first = _slack_without_ids(inv.slack_thread_ts, "yes", "1795435200.000100")
    second = _slack_without_ids(inv.slack_thread_ts, "yes", "1795435260.000200")
    assert [slack.process(p) for p in (first, second, first)] == [
        "accepted",
        "accepted",
        "duplicate",
    ]
    expected += ["yes", "yes"]
    # GitHub: two review comments delivered without X-GitHub-Delivery, the first twice
    answers = []
    for text in ("nit: rename x", "nit: rename y", "nit: rename x"):
        comment = review_comment(inv_id, text)
        comment["comment"]["created_at"] = "2026-11-23T12:00:00Z"
        body = json.dumps(comment).encode()
        headers = github_headers(body)
        del headers["X-GitHub-Delivery"]
        status, answer = send(channels.url, "/webhooks/github", body, headers)
        answers.append((status, answer["message"]))
    assert answers == [(200, "posted"), (200, "posted"), (202, "duplicate delivery")]
    expected += [
        "Review comment on pull request #1 at app/util.py:2: nit: rename x",
        "Review comment on pull request #1 at app/util.py:2: nit: rename y",
    ]
    # Linear: two comments without ids, the first twice
    outcomes = []
    for text in ("ship it later", "ship it now", "ship it later"):
        comment = linear_comment(inv.linear_issue_id, text)
        del comment["data"]["id"]
        comment["data"]["createdAt"] = f"2026-11-23T12:00:0{len(text) % 10}Z"
        body = json.dumps(comment).encode()
        outcomes.append(send(channels.url, "/webhooks/linear", body, linear_headers(body))[1])
    assert [o["message"] for o in outcomes] == ["accepted", "accepted", "duplicate"]
    expected += ["ship it later", "ship it now"]
    # A caller with no id at all: each message is its own
    for _ in range(2):
        assert post_message(inv_id, text="ok", author="ops", channel="api", delivery_id="")
    expected += ["ok", "ok"]
    # Then every distinct message is stored, and only once
    wait_for(lambda: sorted(texts_reached(inv_id)) == sorted(expected), what="all messages")
