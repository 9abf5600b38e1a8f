"""A long investigation continues as new across generations with a bounded payload."""

from __future__ import annotations

from pathlib import Path

from fixloop import aws
from fixloop.cli.execution_stats import execution_stats
from fixloop.domain import AssistantMessage
from tests.integration.scenario import log_of, run_scripted
from tests.runtime import LocalRuntime
from tests.support import text, tool_use


def test_300_turns_complete_across_generations(
    runtime: LocalRuntime, repo: Path, tmp_path: Path
) -> None:
    # Given a 300-turn scripted investigation with growing tool outputs, 60 turns a generation
    turns = [
        [text(f"step {t}"), tool_use("search_code", pattern="def|return")] for t in range(1, 300)
    ]
    turns.append([tool_use("finish", summary="Long one: found it.")])
    # When it runs
    summary = run_scripted(runtime, repo, turns, tmp_path / "long.jsonl", timeout_s=600)
    # Then it completes in several generations, each turn run once, and the state payload
    # stays small however long the transcript grows
    assert summary.investigation.status == "finished"
    assert summary.investigation.turns == 300
    assert summary.executions == 5
    assert summary.investigation.generation == 4
    assert summary.max_state_payload_bytes < 16 * 1024
    events = log_of(summary.investigation.investigation_id)
    turns_seen = [e.event.turn for e in events if isinstance(e.event, AssistantMessage)]
    assert turns_seen == list(range(1, 301))
    assert summary.tool_calls == 299 + 1  # and the repository overview gathered before turn 1
    # each generation stays far below the 25,000-event history limit
    assert summary.history_events / summary.executions < 2_000


def test_wide_turns_continue_as_new_before_the_history_budget(
    runtime: LocalRuntime, repo: Path, tmp_path: Path
) -> None:
    # Given a history budget of 400 events and turns of 8 parallel tool calls
    runtime.configure(max_history_events="400")
    try:
        turns = [[tool_use("get_signal") for _ in range(8)] for _ in range(8)]
        turns.append([tool_use("finish", summary="wide")])
        # When the investigation runs
        summary = run_scripted(runtime, repo, turns, tmp_path / "wide.jsonl")
    finally:
        runtime.configure(max_history_events=None)
    # Then it continued as new on history size, not turn count, and no execution's real
    # history exceeded the budget
    assert summary.investigation.status == "finished"
    assert summary.executions >= 3
    sfn = aws.client("stepfunctions")
    for execution in runtime.watcher.executions(summary.investigation.investigation_id):
        assert execution_stats(sfn, execution["executionArn"]).history_events < 400
