from __future__ import annotations

from fixloop.domain import EVENT_ADAPTER, AssistantMessage, ToolResult
from fixloop.domain.events import (
    assistant_position,
    outcome_position,
    signal_position,
    tool_result_position,
)
from fixloop.domain.investigation import execution_name


def test_positions_sort_in_log_order() -> None:
    # Given the positions of a signal, two turns with tool results, and an outcome
    produced = [
        signal_position(),
        assistant_position(1),
        tool_result_position(1, 0),
        tool_result_position(1, 10),
        assistant_position(2),
        tool_result_position(2, 2),
        assistant_position(10),
        outcome_position(10, "delivered"),
        assistant_position(100000),
    ]
    # Then string order is log order
    assert sorted(produced) == produced


def test_event_union_round_trips_through_json() -> None:
    msg = AssistantMessage(
        turn=3,
        content=[
            {"type": "thinking", "thinking": "hmm", "signature": "s"},
            {"type": "tool_use", "id": "toolu_1", "name": "read_file", "input": {"path": "a"}},
        ],
        stop_reason="tool_use",
        model="m",
    )
    back = EVENT_ADAPTER.validate_json(EVENT_ADAPTER.dump_json(msg))
    assert back == msg
    assert isinstance(back, AssistantMessage)
    assert back.tool_uses()[0]["id"] == "toolu_1"
    res = ToolResult(turn=3, tool_use_id="toolu_1", name="read_file", content="x")
    assert EVENT_ADAPTER.validate_python(res.model_dump()) == res


def test_execution_names_fit_step_functions_limits() -> None:
    assert execution_name("inv-20261122-abcd", 3) == "inv-20261122-abcd-g3"
    long = execution_name("x" * 200, 12)
    assert len(long) <= 80
    assert long.endswith("-g12")
    assert long != execution_name("x" * 199 + "y", 12)
