"""Compaction in Model Turn, and budgets in Prepare, on the embedded runtime's DynamoDB."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fixloop.agent.compaction import fit_context
from fixloop.agent.prompt import SUMMARY_HEADING, build_messages
from fixloop.domain import (
    AssistantMessage,
    CompactionSummary,
    Investigation,
    SignalReceived,
    StatusChanged,
    ToolResult,
    ToolResultsCleared,
    parse_signal,
)
from fixloop.domain.events import assistant_position, signal_position, tool_result_position
from fixloop.domain.investigation import new_investigation_id
from fixloop.intake import start_investigation
from fixloop.llm import ModelRequest, ModelResponse, ScriptedModel
from fixloop.llm.caching import estimate_tokens
from fixloop.store import stores
from tests.integration.scenario import log_of, run_scripted
from tests.runtime import LocalRuntime
from tests.support import alarm_event, head, text, tool_use, write_script

BUDGET = 8_000


class CountingModel:
    """A scripted model that counts the requests it answers."""

    def __init__(self) -> None:
        self.inner = ScriptedModel("test", [_turn()])
        self.name = "counting"
        self.requests: list[ModelRequest] = []

    def complete(self, request: ModelRequest, on_delta: Any = None) -> ModelResponse:
        self.requests.append(request)
        return self.inner.complete(request, on_delta)

    def count_tokens(self, request: ModelRequest) -> int:
        return self.inner.count_tokens(request)


def _turn() -> Any:
    from fixloop.llm.scripted import ScriptedTurn

    return ScriptedTurn(1, [{"type": "text", "text": "x"}], "end_turn")


@pytest.fixture
def budget(runtime: LocalRuntime) -> Iterator[None]:
    runtime.configure(context_budget_tokens=str(BUDGET))
    yield
    runtime.configure(context_budget_tokens=None)


def _log(turns: int, result_chars: int) -> str:
    """An investigation whose log holds ``turns`` turns with one result each."""
    st = stores()
    inv = Investigation(
        investigation_id=new_investigation_id(), title="t", repo="r", model="scripted:x"
    )
    st.investigations.create(inv)
    inv_id = inv.investigation_id
    st.events.append(inv_id, signal_position(), SignalReceived(signal=parse_signal(alarm_event())))
    for t in range(1, turns + 1):
        use = {"type": "tool_use", "id": f"toolu_{t}", "name": "get_signal", "input": {}}
        note = {"type": "text", "text": f"[turn {t}] looking"}
        st.events.append(
            inv_id,
            assistant_position(t),
            AssistantMessage(turn=t, content=[note, use], stop_reason="tool_use", model="m"),
        )
        result = ToolResult(
            turn=t,
            tool_use_id=f"toolu_{t}",
            name="get_signal",
            content=f"{t} " + "y" * result_chars,
        )
        st.events.append(inv_id, tool_result_position(t, 0), result)
    return inv_id


def _make(messages: list[dict[str, Any]]) -> ModelRequest:
    return ModelRequest(system="You investigate.", messages=messages)


def _size(request: ModelRequest) -> int:
    return estimate_tokens(request.model_dump(mode="json", include={"system", "messages", "tools"}))


def _valid(messages: list[dict[str, Any]]) -> None:
    """The Messages API's shape rules: user first, roles alternate, each tool_result answers
    a tool_use of the assistant message just before it."""
    assert messages[0]["role"] == "user"
    for before, after in itertools.pairwise(messages):
        assert before["role"] != after["role"]
        if after["role"] == "user":
            asked = {b["id"] for b in before["content"] if b.get("type") == "tool_use"}
            answered = {b["tool_use_id"] for b in after["content"] if b["type"] == "tool_result"}
            assert answered <= asked


def test_large_old_tool_results_are_cleared_first(budget: None) -> None:
    # Given 8 turns with 4,000-character results: about 9,000 tokens, over the 8,000 budget
    inv_id = _log(8, 4_000)
    model = CountingModel()
    # When turn 9 fits its context
    request, _ = fit_context(model, inv_id, 9, log_of(inv_id), _make)
    # Then older results were cleared (no summary, no model call) and the prompt fits
    events = log_of(inv_id)
    cleared = [e.event for e in events if isinstance(e.event, ToolResultsCleared)]
    assert len(cleared) == 1
    assert cleared[0].cleared >= 5
    assert not model.requests
    assert _size(request) <= BUDGET * 0.6
    # And the recent turns keep their results verbatim, the older ones show a placeholder
    results = [b for m in request.messages for b in m["content"] if b.get("type") == "tool_result"]
    assert results[-1]["content"].startswith('<untrusted source="tool" tool="get_signal">\n8 yyy')
    assert results[0]["content"].startswith("[cleared to keep the context small")
    _valid(request.messages)


def test_a_summary_replaces_older_turns_once_and_a_retry_reuses_it(budget: None) -> None:
    # Given 120 turns of small results (nothing worth clearing), over the budget
    inv_id = _log(120, 100)
    model = CountingModel()
    # When turn 121 fits its context
    request, _ = fit_context(model, inv_id, 121, log_of(inv_id), _make)
    # Then the model was asked once, without tools, for a summary, which is in the log
    assert [r.purpose for r in model.requests] == ["compaction"]
    assert model.requests[0].tools == []
    (stored,) = [e for e in log_of(inv_id) if isinstance(e.event, CompactionSummary)]
    assert stored.position == "t000121.0.compaction.summary"
    # And the prompt is the summary, then whole recent turns verbatim, within the budget
    assert request.messages[0]["content"][0]["text"].startswith(SUMMARY_HEADING)
    assert request.messages[1]["role"] == "assistant"
    assert "[turn 120] looking" in str(request.messages[-2])
    assert _size(request) <= BUDGET * 0.8
    _valid(request.messages)
    # And the log after the summary's `through` rebuilds the same prompt (what Model Turn reads)
    assert isinstance(stored.event, CompactionSummary)
    tail = list(stores().events.read(inv_id, after=stored.event.through))
    assert build_messages(tail) == request.messages
    # When the turn is retried, the stored summary is reused: no second model call
    again, _ = fit_context(model, inv_id, 121, log_of(inv_id), _make)
    assert len(model.requests) == 1
    assert again.messages == request.messages


def test_an_investigation_over_its_token_budget_is_parked_with_a_notice(
    runtime: LocalRuntime, repo: Path, tmp_path: Path
) -> None:
    # Given a configured token budget the first turns use up
    runtime.configure(budget_tokens="2000")
    try:
        turns = [[text(f"step {t}"), tool_use("get_signal")] for t in range(10)]
        # When the investigation runs
        summary = run_scripted(runtime, repo, turns, tmp_path / "s.jsonl")
        # And another one, whose own budget overrides the configured one
        done = [tool_use("finish", summary="done")]
        script = write_script(tmp_path / "own.jsonl", [*turns, done])
        own = start_investigation(
            parse_signal(alarm_event()),
            repo=str(repo),
            commit=head(repo),
            model=f"scripted:{script}",
            budget_tokens=1_000_000,
        )
        runtime.watcher.wait(own.investigation_id, timeout_s=120)
    finally:
        runtime.configure(budget_tokens=None)
    # Then the one with its own, larger budget ran to its end
    own_record = stores().investigations.get(own.investigation_id)
    assert (own_record.status, own_record.turns) == ("finished", 11)
    # Then it is parked before its turns run out, and the log says why
    inv = summary.investigation
    assert inv.status == "parked"
    assert inv.turns < 10
    assert inv.total_tokens > 2000
    notices = [e.event for e in log_of(inv.investigation_id) if isinstance(e.event, StatusChanged)]
    assert notices[-1].status == "parked"
    assert "token budget exceeded" in notices[-1].reason
    # And its summary shows what the tokens and the run cost
    data = summary.as_json()
    assert data["tokens"]["input"] == inv.tokens_input > 0
    assert data["cost_usd"]["model"] == 0  # a scripted replay has no price
    assert data["cost_usd"]["step_functions"] > 0
    assert data["cost_usd"]["lambda"] > 0
    assert data["cost_usd"]["dynamodb"] > 0


def test_a_turn_is_counted_once_however_often_it_is_retried(runtime: LocalRuntime) -> None:
    # Given an investigation whose turn 3 usage is counted
    inv_id = _log(1, 10)
    st = stores()
    tokens = {"tokens_input": 100, "tokens_output": 10, "tokens_cache_read": 1000}
    first = st.investigations.record_usage(
        inv_id, turn=3, tokens=tokens, compactions=1, context_from=""
    )
    # When a retry of that turn (or of an earlier one) counts it again
    again = st.investigations.record_usage(
        inv_id, turn=3, tokens=tokens, compactions=1, context_from=""
    )
    late = st.investigations.record_usage(
        inv_id, turn=2, tokens=tokens, compactions=0, context_from=""
    )
    # Then only the first count is kept
    assert (first, again, late) == (True, False, False)
    inv = st.investigations.get(inv_id)
    assert (inv.tokens_input, inv.tokens_cache_read, inv.compactions) == (100, 1000, 1)
    assert inv.total_tokens == 1110
