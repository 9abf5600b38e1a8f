"""Rebuild the model's prompt from the event log (the loop itself holds no transcript)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fixloop.domain.events import (
    AssistantMessage,
    CompactionSummary,
    SignalReceived,
    ToolResult,
    UserMessage,
)
from fixloop.store.events import StoredEvent
from fixloop.tools.suspects import SUSPECT_COMMITS

SYSTEM_PROMPT = """\
You are fixloop, an engineer investigating a production problem in the user's service.
Work from evidence: read the signal, the logs and the code; form a hypothesis; confirm it.
When you understand the root cause and have a fix, conclude with open_pull_request, giving
the root cause, the evidence, the change and the test run before and after. If no code
change is warranted, conclude with finish and a summary. When only a person can unblock you
(a decision, a fact, access), ask with ask_human; messages from engineers may also arrive
between turns: take them into account. Code tools run in a sandbox holding
the repository at the investigated commit plus your edits; reproduce a failure with a test
before fixing it, and run the tests again after. Tool calls made in one turn run in parallel
and in no set order: make calls that depend on each other in separate turns. Be concise."""


def build_messages(events: Iterable[StoredEvent]) -> list[dict[str, Any]]:
    """Messages API messages, in log order, with consecutive user content merged."""
    messages: list[dict[str, Any]] = []

    def add(role: str, blocks: list[dict[str, Any]]) -> None:
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"].extend(blocks)
        else:
            messages.append({"role": role, "content": list(blocks)})

    for stored in events:
        ev = stored.event
        if isinstance(ev, SignalReceived):
            add("user", [_text("A production problem was detected.\n\n" + ev.signal.render())])
        elif isinstance(ev, UserMessage) and ev.in_reply_to:
            # The answer to ask_human: that call's result.
            reply = f"[{ev.channel}] {ev.author}: {ev.text}"
            add("user", [{"type": "tool_result", "tool_use_id": ev.in_reply_to, "content": reply}])
        elif isinstance(ev, UserMessage):
            add("user", [_text(f"[{ev.channel}] {ev.author}: {ev.text}")])
        elif isinstance(ev, CompactionSummary):
            add("user", [_text("Summary of the investigation so far:\n" + ev.summary)])
        elif isinstance(ev, AssistantMessage):
            add("assistant", ev.content)
        elif isinstance(ev, ToolResult) and ev.turn == 0:
            add("user", [_text(_gathered(ev))])
        elif isinstance(ev, ToolResult):
            add(
                "user",
                [
                    {
                        "type": "tool_result",
                        "tool_use_id": ev.tool_use_id,
                        "content": ev.content,
                        "is_error": ev.is_error,
                    }
                ],
            )
    return messages


def _gathered(result: ToolResult) -> str:
    """A result fixloop gathered before turn 1 (fixloop.agent.context), as prompt text: the
    model made no tool_use for it, so it cannot be a tool_result block."""
    if result.name == SUSPECT_COMMITS.name:
        title = "Suspect commits (the last changes to the lines in the stack frames)"
    else:
        title = f"Gathered before the first turn ({result.name})"
    if result.is_error:
        return f"{title}: could not be gathered: {result.content}"
    return f"{title}:\n{result.content}"


def _text(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}
