"""100 messages through four channels at once, with redeliveries, while an investigation runs
tools, asks questions and waits: each distinct message reaches the model exactly once, in
arrival order per channel, and none is lost."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fixloop.agent.prompt import build_messages
from fixloop.domain import UserMessage
from fixloop.store import stores
from tests.integration.channels import linear_comment, review_comment, serving
from tests.integration.scenario import log_of, start_scripted
from tests.runtime import LocalRuntime
from tests.support import tool_use, wait_for

PER_CHANNEL = 25
CHANNELS = ("api", "slack", "linear", "github")


@pytest.mark.slow
def test_concurrent_messages_reach_the_model_once_in_order(
    runtime: LocalRuntime, repo: Path, tmp_path: Path
) -> None:
    # Given an investigation that runs a tool, then keeps asking (each reply resumes it),
    # and parks when nobody writes for two seconds; it has a Slack thread and a Linear issue
    runtime.configure(human_timeout_seconds="2", max_turns_per_generation="40")
    try:
        with serving(runtime) as ch:
            turns = [[tool_use("get_signal")]] + [
                [tool_use("ask_human", question=f"Anything else? ({n})")] for n in range(150)
            ]
            inv_id = start_scripted(repo, turns, tmp_path / "s.jsonl")
            wait_for(
                lambda: bool(stores().investigations.get(inv_id).linear_issue_id),
                what="the Slack thread and Linear issue",
            )
            inv = stores().investigations.get(inv_id)
            thread, issue = inv.slack_thread_ts, inv.linear_issue_id
            rng = random.Random(6)

            senders: dict[str, Callable[[int, str], tuple[int, dict[str, Any]]]] = {
                "api": lambda n, text: ch.message(inv_id, text, delivery_id=f"api-{n}"),
                "slack": lambda n, text: ch.slack_reply(
                    thread, text, event_id=f"Ev{n:04d}", user="U_ANA"
                ),
                "linear": lambda n, text: ch.linear(
                    linear_comment(issue, text, comment_id=f"c-{n}")
                ),
                "github": lambda n, text: ch.github(
                    "pull_request_review_comment",
                    review_comment(inv_id, text),
                    delivery=f"gh-{n}",
                ),
            }
            answers: dict[str, list[tuple[int, dict[str, Any]]]] = {c: [] for c in CHANNELS}

            def send(channel: str) -> None:
                local = random.Random(f"{channel}-6")
                for n in range(PER_CHANNEL):
                    text = f"{channel} message {n}"
                    answers[channel].append(senders[channel](n, text))
                    if local.random() < 0.3:  # the sender redelivers it
                        answers[channel].append(senders[channel](n, text))

            # When four channels send concurrently, with redeliveries
            threads = [threading.Thread(target=send, args=(c,)) for c in CHANNELS]
            rng.shuffle(threads)
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            # (all 100 distinct messages were accepted by their endpoints)
            for channel in CHANNELS:
                assert all(status in (200, 202) for status, _ in answers[channel]), answers[channel]
            final = runtime.watcher.wait(inv_id, timeout_s=240)
    finally:
        runtime.configure(human_timeout_seconds=None, max_turns_per_generation=None)

    # Then it ended parked, waiting for more, with nothing left unread
    assert final.status == "parked", final.outcome
    assert stores().inbox.pending(inv_id) == []
    log = [(e.position, e.event) for e in log_of(inv_id) if isinstance(e.event, UserMessage)]

    # every distinct message is in the log exactly once
    def said(m: UserMessage) -> str:  # (GitHub's text says where the comment is first)
        return m.text.rsplit(": ", 1)[-1]

    texts = [(m.channel, said(m)) for _, m in log]
    expected = {(c, f"{c} message {n}") for c in CHANNELS for n in range(PER_CHANNEL)}
    assert len(texts) == len(expected) == 100
    assert set(texts) == expected
    # in arrival order per channel (the inbox sequence); for the channels whose endpoint
    # stores before it answers, that is also the order each sender sent them
    for channel in CHANNELS:
        ours = [m for _, m in log if m.channel == channel]
        assert [m.sequence for m in ours] == sorted(m.sequence for m in ours)
        if channel != "slack":  # Slack's events are processed asynchronously, after the ack
            assert [said(m) for m in ours] == [f"{channel} message {n}" for n in range(PER_CHANNEL)]
    # and the model's prompt holds each once (answers to questions as their tool results)
    prompt = build_messages(log_of(inv_id))
    rendered = [
        str(b.get("content") or b.get("text"))
        for m in prompt
        if m["role"] == "user"
        for b in m["content"]
    ]
    for _channel, text in expected:
        ends = (f"\n{text}\n</untrusted>", f": {text}\n</untrusted>")  # (GitHub's have a prefix)
        assert sum(r.endswith(ends) for r in rendered) == 1, text
    # the transcript is valid: every tool_use has exactly one tool_result
    uses = [
        b["id"]
        for m in prompt
        if m["role"] == "assistant"
        for b in m["content"]
        if b["type"] == "tool_use"
    ]
    results = [
        b["tool_use_id"]
        for m in prompt
        if m["role"] == "user"
        for b in m["content"]
        if b["type"] == "tool_result"
    ]
    assert sorted(results) == sorted(uses[:-1])  # the last question is unanswered: parked
