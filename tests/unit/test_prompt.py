from __future__ import annotations

from fixloop.agent.prompt import build_messages
from fixloop.domain import AssistantMessage, SignalReceived, ToolResult, UserMessage, parse_signal
from fixloop.store import StoredEvent
from tests.support import alarm_event


def _stored(pos: str, ev: object) -> StoredEvent:
    return StoredEvent("inv", pos, ev)  # type: ignore[arg-type]


def test_prompt_alternates_and_pairs_tool_results_with_their_calls() -> None:
    # Given a log: signal, assistant with two tool calls, two results, a human message
    uses = [
        {"type": "tool_use", "id": "a", "name": "get_signal", "input": {}},
        {"type": "tool_use", "id": "b", "name": "list_files", "input": {}},
    ]
    log = [
        _stored("1", SignalReceived(signal=parse_signal(alarm_event()))),
        _stored("2", AssistantMessage(turn=1, content=uses, stop_reason="tool_use", model="m")),
        _stored("3", ToolResult(turn=1, tool_use_id="a", name="get_signal", content="sig")),
        _stored(
            "4", ToolResult(turn=1, tool_use_id="b", name="list_files", content="no", is_error=True)
        ),
        _stored("5", UserMessage(text="look at the coupon code", author="ana", channel="slack")),
    ]
    # When the prompt is rebuilt
    messages = build_messages(log)
    # Then roles alternate, results follow their calls, and the human message joins them
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert "orders-5xx" in messages[0]["content"][0]["text"]
    results = messages[2]["content"]
    assert [r.get("tool_use_id") for r in results[:2]] == ["a", "b"]
    assert results[1]["is_error"] is True
    assert results[2]["text"] == (
        '<untrusted source="slack" author="ana">\nlook at the coupon code\n</untrusted>'
    )
