"""Replies as a real model produces them, against the local Messages server that refuses what
the API refuses: cut off at max_tokens, a turn with no tool call, a refusal, a concluding
turn with other calls then a review that wakes it, a mutating turn run in order, and a
1.5 MB log delivery that ends delivered with every prompt within the budget."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fixloop.conversation import post_message
from fixloop.domain import AssistantMessage, Note, ToolResult, parse_signal
from fixloop.intake import start_investigation
from fixloop.llm.caching import estimate_tokens
from tests.fakes.messages import MessageReply, MessagesServer
from tests.integration.scenario import log_of
from tests.runtime import LocalRuntime
from tests.support import alarm_event, head, logs_message, messages_api, text, tool_use, wait_for

MODEL = "anthropic:claude-sonnet-5"


@pytest.fixture
def api(runtime: LocalRuntime, monkeypatch: pytest.MonkeyPatch) -> Iterator[MessagesServer]:
    with messages_api(monkeypatch) as server:
        yield server


class Replies:
    """Answers requests in order with (content, stop_reason); records each request's body."""

    def __init__(self, turns: list[tuple[list[dict[str, Any]], str | None]]) -> None:
        self.turns = turns
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, body: dict[str, Any]) -> MessageReply:
        self.bodies.append(body)
        n = len(self.bodies)
        content, stop = self.turns[min(n, len(self.turns)) - 1]
        content = [dict(b) for b in content]
        for i, block in enumerate(content):
            if block.get("type") == "tool_use":
                block["id"] = f"toolu_r{n:03d}x{i}"
        calls = any(b.get("type") == "tool_use" for b in content)
        return MessageReply(content, stop or ("tool_use" if calls else "end_turn"))


def _start(repo: Path, signal: dict[str, Any] | None = None) -> str:
    inv = start_investigation(
        parse_signal(signal or alarm_event()), repo=str(repo), commit=head(repo), model=MODEL
    )
    return inv.investigation_id


def _results(inv_id: str) -> list[ToolResult]:
    """The results of the model's own calls (not what fixloop gathered before turn 1)."""
    return [e.event for e in log_of(inv_id) if isinstance(e.event, ToolResult) and e.event.turn]


def _notes(inv_id: str) -> list[Note]:
    """fixloop's notes to the model, but the budget left before each turn."""
    return [
        e.event for e in log_of(inv_id) if isinstance(e.event, Note) and e.event.kind != "budget"
    ]


def test_a_reply_cut_off_at_max_tokens_is_asked_again_with_more_room_then_continued(
    runtime: LocalRuntime, api: MessagesServer, repo: Path
) -> None:
    # Given a model whose reply is cut off twice (the first answer and the retry with more
    # room), then goes on and concludes
    cut = [text("Let me read the"), tool_use("read_file", path="app/handler.py")]
    replies = Replies(
        [
            (cut, "max_tokens"),
            (cut, "max_tokens"),
            ([tool_use("get_signal")], None),
            ([tool_use("finish", summary="Done.")], None),
        ]
    )
    api.responder = replies
    inv_id = _start(repo)
    inv = runtime.watcher.wait(inv_id, timeout_s=120)
    # Then the investigation did not conclude on the cut-off reply: it was asked again with
    # more room, its calls were answered as not run, and the next turn read fixloop's note
    assert inv.status == "finished"
    assert [b["max_tokens"] for b in replies.bodies[:2]] == [8192, 32_000]
    first = _results(inv_id)[0]
    assert first.is_error and "cut off at the output limit" in first.content
    notes = _notes(inv_id)
    assert [n.kind for n in notes] == ["cut_off"]
    sent = json.dumps(replies.bodies[2]["messages"][-1])
    assert "fixloop: Your previous reply was cut off" in sent


def test_a_turn_without_a_tool_call_gets_one_note_before_it_concludes(
    runtime: LocalRuntime, api: MessagesServer, repo: Path
) -> None:
    # Given a model that ends a turn with words only ("let me check X next"), then, told to
    # conclude or go on, goes on; and later ends twice in a row with words only
    replies = Replies(
        [
            ([text("Let me check the handler next.")], "end_turn"),
            ([tool_use("read_file", path="app/handler.py")], None),
            ([text("The handler reads a missing key.")], "end_turn"),
            ([text("That is all: the handler reads a missing key.")], "end_turn"),
        ]
    )
    api.responder = replies
    inv_id = _start(repo)
    inv = runtime.watcher.wait(inv_id, timeout_s=120)
    # Then the first words-only turn did not end it (the model went on after the note); the
    # second pair did: the second words-only reply in a row is its conclusion
    assert inv.status == "finished"
    assert inv.turns == 4
    assert "missing key" in inv.outcome
    notes = _notes(inv_id)
    assert [(n.kind, n.turn) for n in notes] == [("nudge", 2), ("nudge", 4)]


def test_a_refusal_parks_the_investigation_with_the_reason(
    runtime: LocalRuntime, api: MessagesServer, repo: Path
) -> None:
    api.responder = Replies([([text("I can't help with that.")], "refusal")])
    inv_id = _start(repo)
    inv = runtime.watcher.wait(inv_id, timeout_s=120)
    assert inv.status == "parked"
    assert "declined" in inv.outcome and "refusal" in inv.outcome


def test_a_delivered_pull_request_woken_by_a_review_sends_a_valid_prompt(
    runtime: LocalRuntime, api: MessagesServer, repo: Path
) -> None:
    # Given a model that fixes the code, then concludes with a pull request and, in the same
    # turn, asks for the diff (models do this); then answers the reviewer
    replies = Replies(
        [
            (
                [
                    tool_use(
                        "edit_file",
                        path="app/util.py",
                        old_text="return x",
                        new_text="return x or 0",
                    )
                ],
                None,
            ),
            (
                [
                    tool_use("git_diff"),
                    tool_use("open_pull_request", title="Guard ident", body="Root cause: None."),
                ],
                None,
            ),
            ([tool_use("finish", summary="The reviewer is answered.")], None),
        ]
    )
    api.responder = replies
    inv_id = _start(repo)
    assert runtime.watcher.wait(inv_id, timeout_s=120).status == "delivered"
    # When a reviewer's message wakes it
    assert post_message(
        inv_id, text="Add a test.", author="rev", channel="api", delivery_id="r"
    ).woke
    wait_for(lambda: len(replies.bodies) == 3, what="the woken turn's request")
    final = runtime.watcher.wait(inv_id, timeout_s=120)
    # Then the API accepted the woken turn's request: every call of the concluding turn has
    # its result (the diff's says it was not run, the pull request's is the review)
    assert final.status == "finished"
    assert all(r.usage is not None for r in api.message_requests())


def test_a_turn_that_changes_the_workspace_runs_its_calls_in_the_models_order(
    runtime: LocalRuntime, api: MessagesServer, repo: Path
) -> None:
    # Given a model that edits, then runs the tests, in one turn
    edit = tool_use("write_file", path="app/flag.py", content="FLAG = 'fixed'\n")
    run = tool_use("run_command", command="python -c 'import app.flag as f; print(f.FLAG)'")
    api.responder = Replies([([edit, run], None), ([tool_use("finish", summary="ok")], None)])
    inv_id = _start(repo)
    assert runtime.watcher.wait(inv_id, timeout_s=120).status == "finished"
    # Then the command saw the edit: the calls ran one after the other, in order
    results = {r.name: r for r in _results(inv_id)}
    assert "fixed" in results["run_command"].content, results["run_command"].content
    assert results["write_file"].at <= results["run_command"].at


def test_a_large_log_delivery_ends_delivered_with_every_prompt_within_the_budget(
    runtime: LocalRuntime, api: MessagesServer, repo: Path
) -> None:
    # Given a CloudWatch Logs delivery of 60 errors carrying 20 KB request dumps (1.5 MB)
    lines = [
        json.dumps(
            {
                "level": "ERROR",
                "message": f"checkout failed {i}",
                "exception": "Traceback (most recent call last):\n"
                '  File "/var/task/app/handler.py", line 2, in handle\n'
                "KeyError: 'user'",
                "request": "x" * 20_000,
            }
        )
        for i in range(60)
    ]
    assert sum(len(line) for line in lines) > 1_200_000
    replies = Replies(
        [
            ([tool_use("get_signal", offset=30, limit=2)], None),
            (
                [
                    tool_use(
                        "edit_file",
                        path="app/util.py",
                        old_text="return x",
                        new_text="return x or 0",
                    )
                ],
                None,
            ),
            ([tool_use("open_pull_request", title="Guard the user key", body="KeyError.")], None),
        ]
    )
    api.responder = replies
    inv_id = _start(repo, logs_message(lines))
    # When it runs to its end
    inv = runtime.watcher.wait(inv_id, timeout_s=180)
    # Then it was delivered, and no request came near the budget the API would refuse
    assert inv.status == "delivered", inv.outcome
    budget = 150_000
    sizes = [estimate_tokens(b) for b in replies.bodies]
    assert all(r.usage is not None for r in api.message_requests())
    assert max(sizes) < budget // 4, sizes
    assert any(isinstance(e.event, AssistantMessage) for e in log_of(inv_id))
