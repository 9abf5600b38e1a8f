"""fixloop's prompts, as the Messages API judges them: whole investigations on the real SDK
against the local Messages server, which refuses what the API refuses (tests/fakes/messages
/rules.py). Two replay requests fixloop used to build that the API refuses: an empty turn
left in the prompt, and compaction rewriting what came before kept thinking blocks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fixloop.conversation import post_message
from fixloop.domain import ToolResultsCleared, parse_signal
from fixloop.intake import start_investigation
from tests.fakes.messages import MessageReply, MessagesServer
from tests.fakes.replay import SessionReplay
from tests.integration.scenario import log_of, noisy_logs_signal
from tests.runtime import LocalRuntime
from tests.support import alarm_event, head, messages_api, text, thinking, tool_use


@pytest.fixture
def api(runtime: LocalRuntime, monkeypatch: pytest.MonkeyPatch) -> Iterator[MessagesServer]:
    with messages_api(monkeypatch) as server:
        yield server


def _start(repo: Path, model: str, signal: dict[str, Any] | None = None) -> str:
    inv = start_investigation(
        parse_signal(signal or alarm_event()), repo=str(repo), commit=head(repo), model=model
    )
    return inv.investigation_id


class Replies:
    """Answers turn requests in order; ``on_turn[n]`` runs just before turn ``n`` answers
    (to post a person's message while the model is at work)."""

    def __init__(self, turns: list[list[dict[str, Any]]]) -> None:
        self.turns = turns
        self.on_turn: dict[int, Callable[[], object]] = {}
        self.asked = 0

    def __call__(self, body: dict[str, Any]) -> MessageReply:
        self.asked += 1
        if self.asked in self.on_turn:
            self.on_turn[self.asked]()
        content = [dict(b) for b in self.turns[self.asked - 1]]
        for i, block in enumerate(content):
            if block.get("type") == "tool_use":
                block["id"] = f"toolu_t{self.asked:03d}x{i}"
        calls = any(b.get("type") == "tool_use" for b in content)
        return MessageReply(content, "tool_use" if calls else "end_turn")


def test_an_investigation_with_thinking_and_a_persons_message_sends_only_valid_prompts(
    runtime: LocalRuntime, api: MessagesServer, repo: Path
) -> None:
    # Given a model that thinks before its tool calls (adaptive thinking, fixloop's default),
    # and an engineer who writes while the second turn is being generated
    replies = Replies(
        [
            [thinking("Start from the signal."), text("Reading it."), tool_use("get_signal")],
            [thinking("Compare with the code."), tool_use("read_file", path="app/handler.py")],
            [thinking("The engineer says it is the key."), tool_use("finish", summary="KeyError.")],
        ]
    )
    api.responder = replies
    inv_id = _start(repo, "anthropic:claude-sonnet-5")
    replies.on_turn[2] = lambda: post_message(
        inv_id, text="It started with the user id change.", author="ana", channel="api",
        delivery_id="m1",
    )  # fmt: skip
    # When it runs
    inv = runtime.watcher.wait(inv_id, timeout_s=120)
    # Then every request was accepted: tool results answer their calls, the person's message
    # follows them, and each turn's signed thinking went back unchanged
    assert inv.status == "finished", inv.outcome
    requests = api.message_requests()
    assert [r.usage is not None for r in requests] == [True, True, True]
    last = requests[-1].body["messages"]
    # (then fixloop's note of the budget left, the turn's last input)
    assert [b["type"] for b in last[-1]["content"]] == ["tool_result", "text", "text"]
    assert "It started with the user id change." in last[-1]["content"][1]["text"]
    assert last[-1]["content"][2]["text"].startswith("fixloop: budget before this turn: turn 3")
    assert last[-2]["content"][0]["type"] == "thinking"


def test_an_empty_turn_followed_by_a_persons_message_leaves_a_valid_prompt(
    runtime: LocalRuntime, api: MessagesServer, repo: Path
) -> None:
    # Given a model that ends its second turn with nothing (after a tool result), while an
    # engineer's message arrives
    replies = Replies(
        [
            [tool_use("get_signal")],
            [],
            [tool_use("finish", summary="Answered the engineer.")],
        ]
    )
    api.responder = replies
    inv_id = _start(repo, "anthropic:claude-sonnet-5")
    replies.on_turn[2] = lambda: post_message(
        inv_id, text="Any news?", author="ana", channel="api", delivery_id="m1"
    )
    # When the loop goes on to read the message
    inv = runtime.watcher.wait(inv_id, timeout_s=120)
    # Then the third turn's prompt was accepted and the investigation finished
    assert [r.usage is not None for r in api.message_requests()] == [True, True, True]
    assert inv.status == "finished", inv.outcome


def _thinking_session(turns: int) -> list[list[dict[str, Any]]]:
    script = [
        [thinking(f"Turn {t}: read the log lines again."), tool_use("get_signal")]
        for t in range(1, turns)
    ]
    script.append([thinking("Enough."), tool_use("finish", summary="Found it.")])
    return script


def test_compaction_keeps_the_prompt_valid_on_a_model_with_preserved_thinking(
    runtime: LocalRuntime, api: MessagesServer, repo: Path
) -> None:
    # Given a session long enough to compact, on Claude Fable 5.2 (adaptive thinking, always on)
    runtime.configure(context_budget_tokens="20000")
    try:
        api.responder = SessionReplay(_thinking_session(16))
        inv_id = _start(repo, "anthropic:claude-fable-5-2", noisy_logs_signal())
        # When it runs
        inv = runtime.watcher.wait(inv_id, timeout_s=300, poll_s=0.5)
    finally:
        runtime.configure(context_budget_tokens=None)
    # Then it compacted, and every request was still accepted
    assert any(isinstance(e.event, ToolResultsCleared) for e in log_of(inv_id))
    assert all(r.usage is not None for r in api.message_requests())
    assert inv.status == "finished", inv.outcome
