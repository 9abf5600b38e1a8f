"""ask_human on the embedded runtime: the question waits on a task token, the first reply
resumes it as the call's result, a time-out parks it and a later message wakes it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fixloop.agent.prompt import build_messages
from fixloop.conversation.inbox import post_message
from fixloop.domain import AssistantMessage, QuestionAsked, UserMessage
from fixloop.store import stores
from tests.integration.scenario import log_of, start_scripted
from tests.runtime import LocalRuntime
from tests.support import tool_use, wait_for


def waiting(investigation_id: str) -> bool:
    return stores().waits.get(investigation_id) is not None


@pytest.fixture
def short_wait(runtime: LocalRuntime) -> Iterator[None]:
    runtime.configure(human_timeout_seconds="2")
    yield
    runtime.configure(human_timeout_seconds=None)


def ask_id(investigation_id: str) -> str:
    for e in log_of(investigation_id):
        if isinstance(e.event, AssistantMessage):
            for use in e.event.tool_uses():
                if use["name"] == "ask_human":
                    return str(use["id"])
    raise AssertionError("no ask_human call in the log")


def test_a_question_waits_and_the_first_reply_is_its_result(
    runtime: LocalRuntime, repo: Path, tmp_path: Path
) -> None:
    # Given an investigation whose model asks which fix to make, alongside another call
    turns = [
        [
            tool_use("ask_human", question="Retry or fail fast?", options=["retry", "fail"]),
            tool_use("get_signal"),
        ],
        [tool_use("finish", summary="Will retry as asked.")],
        # (the second reply may reach the inbox after turn 2 read it: that turn's conclusion
        # then waits for one more turn, which reads it)
        [tool_use("finish", summary="Will retry as asked.")],
    ]
    inv_id = start_scripted(repo, turns, tmp_path / "s.jsonl")
    # When it waits (the wait is registered, then the question recorded and posted)
    wait_for(lambda: waiting(inv_id), what="the wait")
    wait_for(
        lambda: any(isinstance(e.event, QuestionAsked) for e in log_of(inv_id)),
        what="the question in the log",
    )
    asked = [e.event for e in log_of(inv_id) if isinstance(e.event, QuestionAsked)]
    assert [(q.question, q.options) for q in asked] == [("Retry or fail fast?", ["retry", "fail"])]
    assert stores().investigations.get(inv_id).status == "running"
    # And two people answer
    first = post_message(inv_id, text="retry", author="ana", channel="slack", delivery_id="e1")
    second = post_message(inv_id, text="or not", author="bo", channel="api", delivery_id="r1")
    # Then exactly one of them resumed it, and it concludes
    assert first.resumed and not second.resumed
    final = runtime.watcher.wait(inv_id, timeout_s=60)
    assert final.status == "finished"
    # And the model read the first reply as the question's result, the second as a message
    messages = build_messages(log_of(inv_id))
    user_after_ask = messages[2]["content"]
    kinds = [
        (b["type"], b.get("tool_use_id"), b.get("content") or b.get("text")) for b in user_after_ask
    ]
    reply = '<untrusted source="slack" author="ana">\nretry\n</untrusted>'
    assert ("tool_result", ask_id(inv_id), reply) in kinds
    later = [b for m in messages[2:] if m["role"] == "user" for b in m["content"]]
    other = '<untrusted source="api" author="bo">\nor not\n</untrusted>'
    assert [b.get("text") for b in later].count(other) == 1
    # every tool_use has its tool_result (the other call was not run, and says why)
    results = [b for b in user_after_ask if b["type"] == "tool_result"]
    assert len(results) == 2
    assert stores().waits.get(inv_id) is None


def test_a_time_out_parks_it_and_a_later_message_resumes_it(
    runtime: LocalRuntime, repo: Path, tmp_path: Path, short_wait: None
) -> None:
    # Given a question nobody answers in time
    turns = [
        [tool_use("ask_human", question="May I restart the service?")],
        [tool_use("finish", summary="Restarted after approval.")],
    ]
    before = runtime.invocations.get("fixloop-wait_for_human", 0)
    inv_id = start_scripted(repo, turns, tmp_path / "s.jsonl")
    parked = runtime.watcher.wait(inv_id, timeout_s=60)
    # Then it is parked with a notice, the question asked once (a time-out is not retried)
    assert runtime.invocations["fixloop-wait_for_human"] - before == 2  # ask, then park
    assert parked.status == "parked"
    assert "no reply to the question within 2 s" in parked.outcome
    assert stores().waits.get(inv_id) is None
    # When an answer arrives later
    posted = post_message(inv_id, text="yes", author="ana", channel="linear", delivery_id="c1")
    # Then it wakes in a new generation and reads the answer as the question's result
    assert posted.woke
    final = runtime.watcher.wait(inv_id, timeout_s=60)
    assert final.status == "finished"
    assert final.generation == parked.generation + 1
    replies = [e.event for e in log_of(inv_id) if isinstance(e.event, UserMessage)]
    assert [(r.text, r.in_reply_to) for r in replies] == [("yes", ask_id(inv_id))]


def test_messages_for_closed_or_unknown_investigations_are_refused(
    runtime: LocalRuntime, repo: Path, tmp_path: Path
) -> None:
    inv_id = start_scripted(
        repo, [[tool_use("finish", summary="Nothing to do.")]], tmp_path / "s.jsonl"
    )
    assert runtime.watcher.wait(inv_id, timeout_s=60).status == "finished"
    posted = post_message(inv_id, text="hello?", author="a", channel="api", delivery_id="x")
    assert (posted.outcome, posted.status) == ("closed", "finished")
    assert stores().inbox.pending(inv_id) == []


@pytest.fixture
def approval(runtime: LocalRuntime) -> Iterator[None]:
    runtime.configure(require_approval="true")
    yield
    runtime.configure(require_approval=None)


def test_a_pull_request_waits_for_approval_and_feedback_goes_to_the_model(
    runtime: LocalRuntime, repo: Path, tmp_path: Path, approval: None
) -> None:
    # Given a deployment that asks before opening pull requests, and a model that fixes
    # something, is told to change it, and proposes again
    turns = [
        [tool_use("edit_file", path="app/util.py", old_text="return x", new_text="return x or 0")],
        [tool_use("open_pull_request", title="Default to 0", body="First version.")],
        [tool_use("edit_file", path="app/util.py", old_text="x or 0", new_text="x or None")],
        [tool_use("open_pull_request", title="Default to None", body="As asked.")],
    ]
    inv_id = start_scripted(repo, turns, tmp_path / "s.jsonl")
    # (the wait is registered just before its question is written: wait for both)
    wait_for(lambda: waiting(inv_id) and bool(asked_of(inv_id)), what="the approval request")
    asked = [e.event for e in log_of(inv_id) if isinstance(e.event, QuestionAsked)]
    assert [(q.kind, q.options) for q in asked] == [("approval", ["approve"])]
    assert "Default to 0" in asked[0].question
    # When a reviewer asks for a change instead of approving
    post_message(inv_id, text="Return None, not 0", author="ana", channel="slack", delivery_id="1")
    # Then nothing is opened: the model reads it as the result of its open_pull_request
    wait_for(lambda: waiting(inv_id) and len(asked_of(inv_id)) == 2, what="the second request")
    assert stores().investigations.get(inv_id).pull_request is None
    # When the second proposal is approved
    post_message(inv_id, text="Approve.", author="ana", channel="slack", delivery_id="2")
    final = runtime.watcher.wait(inv_id, timeout_s=60)
    # Then the pull request is opened, and both replies are the results of their calls
    assert final.status == "delivered" and final.pull_request is not None
    prompt = build_messages(log_of(inv_id))
    results = [b["content"] for m in prompt for b in m["content"] if b.get("type") == "tool_result"]
    assert '<untrusted source="slack" author="ana">\nReturn None, not 0\n</untrusted>' in results
    assert results[-1] == '<untrusted source="slack" author="ana">\nApprove.\n</untrusted>'
    assert stores().inbox.pending(inv_id) == []


def asked_of(investigation_id: str) -> list[QuestionAsked]:
    return [e.event for e in log_of(investigation_id) if isinstance(e.event, QuestionAsked)]
