"""Slack, Linear, GitHub and REST on the local HTTP server: signed requests become inbox
messages; wrong, missing, replayed or stale signatures and bad input are refused, storing
nothing; a waiting investigation is resumed from Slack, then Linear, in one thread."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixloop.agent.prompt import build_messages
from fixloop.domain import UserMessage
from fixloop.store import stores
from tests.integration.channels import (
    SLACK_CHANNEL,
    Channels,
    linear_comment,
    review_comment,
)
from tests.integration.scenario import log_of, start_scripted
from tests.integration.test_human_loop import ask_id, waiting
from tests.runtime import LocalRuntime
from tests.support import tool_use, wait_for


def messages_of(investigation_id: str) -> list[UserMessage]:
    return [e.event for e in log_of(investigation_id) if isinstance(e.event, UserMessage)]


def nothing_stored(investigation_id: str) -> bool:
    return not stores().inbox.pending(investigation_id) and not messages_of(investigation_id)


@pytest.fixture
def waiting_investigation(
    runtime: LocalRuntime, channels: Channels, repo: Path, tmp_path: Path
) -> Iterator[str]:
    """An investigation waiting on a question, with its Slack thread and Linear issue."""
    turns = [
        [tool_use("ask_human", question="First question?")],
        [tool_use("ask_human", question="Second question?")],
        [tool_use("finish", summary="Done, thanks.")],
    ]
    inv_id = start_scripted(repo, turns, tmp_path / "s.jsonl")
    wait_for(lambda: waiting(inv_id), what="the first question")
    yield inv_id
    inv = stores().investigations.get(inv_id)
    if inv.is_open:  # let it end: answer what it asks
        for n in range(3):
            if waiting(inv_id):
                channels.message(inv_id, "cleanup", delivery_id=f"cleanup-{n}")
            time.sleep(0.3)


def thread_of(investigation_id: str) -> str:
    inv = stores().investigations.get(investigation_id)
    assert inv.slack_channel == SLACK_CHANNEL and inv.slack_thread_ts
    return inv.slack_thread_ts


# -- Slack ---------------------------------------------------------------------------------
def test_slack_url_verification_answers_the_challenge_only_when_signed(
    channels: Channels,
) -> None:
    challenge = {
        "type": "url_verification",
        "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
        "token": "x",
    }
    assert channels.slack(challenge) == (200, {"challenge": challenge["challenge"]})
    assert channels.slack(challenge, signed=False)[0] == 401


def test_slack_signatures_wrong_missing_stale_are_refused_and_store_nothing(
    channels: Channels, waiting_investigation: str
) -> None:
    inv_id = waiting_investigation
    thread = thread_of(inv_id)
    # wrong secret, no signature, five minutes and a bit old (a replay of a captured request)
    assert channels.slack_reply(thread, "wrong", secret="not-the-secret")[0] == 401
    assert channels.slack_reply(thread, "missing", signed=False)[0] == 401
    assert channels.slack_reply(thread, "stale", age_s=301)[0] == 401
    time.sleep(0.3)  # (an accepted event would be processed asynchronously)
    assert nothing_stored(inv_id) and waiting(inv_id)


def test_slack_retries_of_one_event_are_stored_once(
    channels: Channels, waiting_investigation: str
) -> None:
    inv_id = waiting_investigation
    thread = thread_of(inv_id)
    # Slack delivers, then retries (X-Slack-Retry-Num) the same event_id
    for retry in (None, 1, 2):
        assert channels.slack_reply(thread, "the answer", event_id="Ev0001", retry=retry) == (
            200,
            {"message": "accepted"},
        )
    wait_for(lambda: len(messages_of(inv_id)) >= 1, what="the reply in the log")
    wait_for(lambda: waiting(inv_id), what="the second question")
    assert [m.text for m in messages_of(inv_id)] == ["the answer"]


# -- Linear --------------------------------------------------------------------------------
def test_linear_signatures_wrong_missing_stale_replayed(
    channels: Channels, waiting_investigation: str
) -> None:
    inv_id = waiting_investigation
    issue = stores().investigations.get(inv_id).linear_issue_id
    assert issue in channels.linear_api.issues
    assert channels.linear(linear_comment(issue, "x"), secret="wrong")[0] == 401
    assert channels.linear(linear_comment(issue, "x"), signed=False)[0] == 401
    assert channels.linear(linear_comment(issue, "x", age_s=61))[0] == 401
    assert nothing_stored(inv_id) and waiting(inv_id)
    # a valid delivery, then the same delivery replayed within the minute
    comment = linear_comment(issue, "go ahead", comment_id="c-1")
    assert channels.linear(comment) == (200, {"message": "accepted"})
    assert channels.linear(comment) == (200, {"message": "duplicate"})
    wait_for(lambda: waiting(inv_id), what="the second question")
    assert [m.text for m in messages_of(inv_id)] == ["go ahead"]


# -- GitHub --------------------------------------------------------------------------------
def test_github_through_the_gateway_checks_the_signature(
    channels: Channels, waiting_investigation: str
) -> None:
    inv_id = waiting_investigation
    payload = review_comment(inv_id, "nit")
    assert (
        channels.github("pull_request_review_comment", payload, delivery="g1", secret="wrong")[0]
        == 401
    )
    assert nothing_stored(inv_id)
    assert channels.github("pull_request_review_comment", payload, delivery="g1") == (
        200,
        {"message": "posted"},
    )
    assert channels.github("pull_request_review_comment", payload, delivery="g1")[0] == 202
    wait_for(lambda: waiting(inv_id), what="the second question")
    assert len(messages_of(inv_id)) == 1
    # A signed delivery over the size limit is refused like on the other endpoints, unread
    huge = review_comment(inv_id, "x" * 70_000)
    status, body = channels.github("pull_request_review_comment", huge, delivery="g2")
    assert status == 413 and "limit is 64000" in body["message"]
    assert len(messages_of(inv_id)) == 1


# -- REST ----------------------------------------------------------------------------------
def test_rest_bad_input_gets_clear_answers_and_stores_nothing(
    runtime: LocalRuntime,
    channels: Channels,
    repo: Path,
    tmp_path: Path,
    waiting_investigation: str,
) -> None:
    inv_id = waiting_investigation
    path = f"/investigations/{inv_id}/messages"
    status, body = channels.post(path, b'{"text": "' + b"x" * 70_000 + b'"}')
    assert status == 413 and "limit is 64000" in body["message"]
    assert channels.post(path, b"{not json")[0] == 400
    status, body = channels.post(path, b'{"author": "a"}')
    assert status == 400 and "text" in body["message"]
    status, body = channels.message("inv-does-not-exist", "hello")
    assert (status, body["message"]) == (404, "no investigation inv-does-not-exist")
    assert nothing_stored(inv_id) and waiting(inv_id)
    # a closed investigation
    closed = start_scripted(repo, [[tool_use("finish", summary="ok")]], tmp_path / "c.jsonl")
    runtime.watcher.wait(closed, timeout_s=60)
    status, body = channels.message(closed, "too late")
    assert status == 409 and "finished" in body["message"]
    assert nothing_stored(closed)
    # GET reads the investigation and its log
    status, body = channels.get(f"/investigations/{inv_id}?limit=2")
    assert status == 200 and body["investigation"]["status"] == "running"
    assert len(body["events"]) == 2 and body["next_after"] == body["events"][-1]["position"]
    assert channels.get("/investigations/nope")[0] == 404


def test_a_redelivery_after_the_investigation_closed_is_still_a_duplicate(
    runtime: LocalRuntime, channels: Channels, repo: Path, tmp_path: Path
) -> None:
    # Given an investigation that asked one question, was answered (delivery d-1) and ended
    turns = [
        [tool_use("ask_human", question="Retry or fail fast?")],
        [tool_use("finish", summary="Will retry as asked.")],
    ]
    inv_id = start_scripted(repo, turns, tmp_path / "s.jsonl")
    wait_for(lambda: waiting(inv_id), what="the question")
    assert channels.message(inv_id, "retry", delivery_id="d-1")[0] == 202
    assert runtime.watcher.wait(inv_id, timeout_s=60).status == "finished"
    # When the sender delivers d-1 again (its retry after a lost answer), then a new message
    again = channels.message(inv_id, "retry", delivery_id="d-1")
    late = channels.message(inv_id, "one more thing", delivery_id="d-2")
    # Then the redelivery is acknowledged as the message it already took, the new one refused
    assert again[0] == 200, again
    assert late[0] == 409 and "finished" in late[1]["message"]
    assert [m.text for m in messages_of(inv_id)] == ["retry"]


# -- one thread, many channels ---------------------------------------------------------------
def test_a_waiting_investigation_is_resumed_from_slack_then_linear_in_one_thread(
    runtime: LocalRuntime, channels: Channels, waiting_investigation: str
) -> None:
    inv_id = waiting_investigation
    thread = thread_of(inv_id)
    issue = stores().investigations.get(inv_id).linear_issue_id
    # When an engineer replies in the Slack thread
    assert channels.slack_reply(thread, "use the replica", user="U_ANA")[0] == 200
    # Then the execution resumes, and asks its second question in the same thread
    wait_for(lambda: len(channels.slack_api.thread(SLACK_CHANNEL, thread)) >= 3, what="question 2")
    wait_for(lambda: waiting(inv_id), what="the second wait")
    # When another engineer answers on Linear
    assert channels.linear(linear_comment(issue, "and add a test"))[0] == 200
    final = runtime.watcher.wait(inv_id, timeout_s=60)
    # Then it concludes, one generation, having read both answers as its questions' results
    assert final.status == "finished" and final.generation == 0
    replies = [(m.channel, m.text, bool(m.in_reply_to)) for m in messages_of(inv_id)]
    assert replies == [("slack", "use the replica", True), ("linear", "and add a test", True)]
    prompt = build_messages(log_of(inv_id))
    results = [b for m in prompt for b in m["content"] if b.get("type") == "tool_result"]
    assert [r["content"] for r in results] == [
        '<untrusted source="slack" author="U_ANA">\nuse the replica\n</untrusted>',
        '<untrusted source="linear" author="Bo">\nand add a test\n</untrusted>',
    ]
    assert results[0]["tool_use_id"] == ask_id(inv_id)
    # And Slack got one thread: start, both questions, the outcome
    posts = [m["text"] for m in channels.slack_api.thread(SLACK_CHANNEL, thread)]
    assert posts[0] == f"Started investigating: {final.title}"
    assert posts[1].startswith("❓ First question?") and posts[2].startswith("❓ Second question?")
    assert posts[3] == "Finished: Done, thanks."
    roots = [m for m in channels.slack_api.messages if m["thread_ts"] is None]
    assert len(roots) == 1 and roots[0]["ts"] == thread
    auth = {r["auth"] for r in channels.slack_api.requests}
    assert auth == {"Bearer xoxb-test-token"}
    # And Linear got one issue with the same posts as comments
    assert list(channels.linear_api.issues) == [issue]
    assert [c["body"] for c in channels.linear_api.comments] == posts
    assert {c["issueId"] for c in channels.linear_api.comments} == {issue}
    assert {r["auth"] for r in channels.linear_api.requests} == {"lin_api_test"}


def test_fixloop_serve_answers_on_http(tmp_path: Path) -> None:
    # Given `fixloop serve` on a free port
    import os
    import subprocess
    import sys
    import urllib.error
    import urllib.request

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FIXLOOP_"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "fixloop.cli", "serve", "--port", "0"],
        env={**env, "FIXLOOP_SLACK_SIGNING_SECRET": "s"},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        url = ""
        for line in proc.stderr:
            if line.startswith("listening"):
                url = line.split()[-1]
                break
        assert url.startswith("http://127.0.0.1:")
        # When a message is posted to an unknown investigation, and Slack is called unsigned
        request = urllib.request.Request(
            f"{url}/investigations/inv-x/messages", data=b'{"text": "hi"}', method="POST"
        )
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(request, timeout=30)
        unsigned = urllib.request.Request(f"{url}/webhooks/slack", data=b"{}", method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(unsigned, timeout=30)
        # Then the real handlers answer
        assert missing.value.code == 404
        assert json.loads(missing.value.read())["message"] == "no investigation inv-x"
        assert refused.value.code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_parked_question_is_resumed_by_a_later_slack_reply(
    runtime: LocalRuntime, channels: Channels, repo: Path, tmp_path: Path
) -> None:
    # Given a question nobody answers within two seconds
    runtime.configure(human_timeout_seconds="2")
    try:
        turns = [
            [tool_use("ask_human", question="Is the queue drained?")],
            [tool_use("finish", summary="Drained, closing.")],
        ]
        inv_id = start_scripted(repo, turns, tmp_path / "s.jsonl")
        parked = runtime.watcher.wait(inv_id, timeout_s=60)
    finally:
        runtime.configure(human_timeout_seconds=None)
    thread = thread_of(inv_id)
    assert parked.status == "parked"
    # Then the thread says so
    posts = [m["text"] for m in channels.slack_api.thread(SLACK_CHANNEL, thread)]
    assert posts[-1].startswith("⏸ Parked: no reply to the question within 2 s")
    # When someone replies in the thread later
    assert channels.slack_reply(thread, "yes, drained", user="U_BO")[0] == 200
    # Then it wakes in a new generation, reads the reply as the answer, and concludes there
    wait_for(lambda: stores().investigations.get(inv_id).status != "parked", what="waking")
    final = runtime.watcher.wait(inv_id, timeout_s=60)
    assert (final.status, final.generation) == ("finished", parked.generation + 1)
    assert [(m.text, m.in_reply_to) for m in messages_of(inv_id)] == [
        ("yes, drained", ask_id(inv_id))
    ]
    posts = [m["text"] for m in channels.slack_api.thread(SLACK_CHANNEL, thread)]
    assert posts[-1] == "Finished: Drained, closing."


def test_each_announcement_is_posted_once_per_channel(
    channels: Channels, waiting_investigation: str
) -> None:
    from fixloop.channels.outbound import announce

    # Given an investigation with its thread and issue, when a step posts the same key twice
    wait_for(
        lambda: len(channels.linear_api.comments) == 2, what="the question's posts"
    )  # (the wait is registered just before the question is posted)
    inv = stores().investigations.get(waiting_investigation)
    slack_before, linear_before = (
        len(channels.slack_api.messages),
        len(channels.linear_api.comments),
    )
    announce(inv, key="retried-step", text="Once only")
    announce(
        stores().investigations.get(waiting_investigation), key="retried-step", text="Once only"
    )
    # Then each channel got it once
    assert [m["text"] for m in channels.slack_api.messages[slack_before:]] == ["Once only"]
    assert [c["body"] for c in channels.linear_api.comments[linear_before:]] == ["Once only"]
