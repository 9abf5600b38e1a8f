"""Every tool call gets exactly one result, including the calls a turn never ran."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fixloop.agent.prompt import build_messages
from fixloop.conversation import post_message
from fixloop.domain import AssistantMessage, ToolResult
from tests.integration.scenario import log_of, run_scripted
from tests.runtime import LocalRuntime
from tests.support import tool_use, wait_for


def unanswered(messages: list[dict[str, Any]]) -> list[str]:
    """tool_use ids not answered by a tool_result in the next message (what the Messages API
    refuses), but for the last message (the turn that ended the run, which no prompt holds)."""
    missing = []
    for i, message in enumerate(messages[:-1]):
        if message["role"] != "assistant":
            continue
        uses = [b["id"] for b in message["content"] if b.get("type") == "tool_use"]
        after = messages[i + 1]["content"] if i + 1 < len(messages) else []
        answered = {b.get("tool_use_id") for b in after if b.get("type") == "tool_result"}
        missing += [u for u in uses if u not in answered]
    return missing


def test_a_concluding_turn_answers_the_calls_it_did_not_run_and_a_wake_rebuilds_a_valid_prompt(
    runtime: LocalRuntime, repo: Path, tmp_path: Path
) -> None:
    # Given a model that fixes the code, then concludes with a pull request and, in the same
    # turn, asks for the diff (models do this)
    turns = [
        [tool_use("edit_file", path="app/util.py", old_text="return x", new_text="return x or 0")],
        [
            tool_use("git_diff"),
            tool_use("open_pull_request", title="Guard ident", body="Root cause: None."),
        ],
        [tool_use("finish", summary="The reviewer is answered.")],
    ]
    summary = run_scripted(runtime, repo, turns, tmp_path / "s.jsonl")
    inv_id = summary.investigation.investigation_id
    assert summary.investigation.status == "delivered"
    # Then the call the turn did not run has a result saying so
    results = {e.event.name: e.event for e in log_of(inv_id) if isinstance(e.event, ToolResult)}
    assert results["git_diff"].is_error
    assert results["git_diff"].content.startswith("Not run: the turn concluded with open_pull")
    # When a reviewer's message wakes the delivered investigation
    posted = post_message(
        inv_id, text="Please add a test.", author="rev", channel="api", delivery_id="r1"
    )
    assert posted.woke
    wait_for(
        lambda: any(
            isinstance(e.event, AssistantMessage) and e.event.turn == 3 for e in log_of(inv_id)
        ),
        what="the next turn",
    )
    runtime.watcher.wait(inv_id, timeout_s=60)
    # Then the prompt rebuilt from the log answers every call of every turn exactly once
    messages = build_messages(log_of(inv_id))
    assert unanswered(messages) == []
    answered = [
        b["tool_use_id"] for m in messages for b in m["content"] if b.get("type") == "tool_result"
    ]
    assert len(answered) == len(set(answered)) == 3
