"""Long sessions through the real SDK and the local Messages server: the prompt stays under
the context budget, compaction keeps what matters, and the prompt is read from cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fixloop.domain import AssistantMessage, CompactionSummary, ToolResultsCleared
from fixloop.llm import clear_model_cache
from tests.fakes.messages import MessagesServer
from tests.fakes.replay import RequestFigures, SessionReplay, request_figures
from tests.integration.scenario import (
    log_of,
    long_session_script,
    noisy_logs_signal,
    start_replayed,
)
from tests.runtime import LocalRuntime

BUDGET = 30_000


@pytest.fixture
def session_env(runtime: LocalRuntime, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    runtime.configure(context_budget_tokens=str(BUDGET), thinking="off")
    try:
        yield
    finally:
        runtime.configure(context_budget_tokens=None, thinking=None)
        clear_model_cache()


def _between_compactions(
    figures: list[RequestFigures], compacted_turns: set[int]
) -> list[RequestFigures]:
    """Turn requests from turn 2 on, less the first request after each compaction."""
    return [
        f for f in figures if f.turn is not None and f.turn >= 2 and f.turn not in compacted_turns
    ]


@pytest.mark.slow
def test_500_turns_stay_under_the_budget_keep_the_thread_and_read_the_cache(
    runtime: LocalRuntime, repo: Path, session_env: None
) -> None:
    # Given a 500-turn session whose every turn reads a ~6,000-character tool result,
    # a fact planted at turn 1, and a 30,000-token context budget
    replay = SessionReplay(long_session_script(500))
    with MessagesServer(responder=replay) as server:
        # When it runs on the real SDK against the local Messages server
        inv_id = start_replayed(repo, server.base_url, signal=noisy_logs_signal())
        runtime.watcher.wait(inv_id, timeout_s=900, poll_s=0.5)
        summary = runtime.watcher.summary(inv_id)
        figures = request_figures(server.requests)

    # Then it completes, every turn run once, across generations
    inv = summary.investigation
    assert inv.status == "finished", inv.outcome
    assert inv.turns == 500
    assert summary.executions >= 5
    assert summary.history_events / summary.executions < 2_500  # far below 25,000
    assert summary.max_state_payload_bytes < 16 * 1024  # ids and counters only
    events = log_of(inv_id)
    assert [e.event.turn for e in events if isinstance(e.event, AssistantMessage)] == list(
        range(1, 501)
    )
    # And no request the server received (turns and summaries) exceeded the budget
    assert max(f.prompt_tokens for f in figures) <= BUDGET
    # And compaction happened, both kinds, each recorded in the log
    summaries = [e for e in events if isinstance(e.event, CompactionSummary)]
    clearings = [e for e in events if isinstance(e.event, ToolResultsCleared)]
    assert len(summaries) >= 3
    assert clearings
    assert inv.compactions == len(summaries) + len(clearings)
    # And the fact planted at turn 1 is still in the prompt of the last turn, via summaries
    last = [f for f in figures if f.turn == 500][-1]
    assert "F-7731" in last.text
    assert "Step 3:" not in last.text  # the early turns themselves are long gone
    # And between compactions, from turn 2 on, at least 85% of the prompt tokens were read
    # from the cached prefix of the previous request (as the server accounted it), and were
    # byte-identical to the previous request's prompt (as the requests show)
    compacted = {int(e.position[1:7]) for e in [*summaries, *clearings]}
    steady = _between_compactions(figures, compacted)
    prompt = sum(f.prompt_tokens for f in steady)
    assert sum(f.cache_read_tokens for f in steady) / prompt >= 0.85
    assert sum(f.shared_prefix_tokens for f in steady) / prompt >= 0.85
    # And the record counted the tokens the server reported, once each
    assert inv.tokens_cache_read == sum(f.cache_read_tokens for f in figures)
    assert inv.tokens_input + inv.tokens_cache_write + inv.tokens_cache_read == sum(
        f.prompt_tokens for f in figures
    )
    # And the summary prices it, model and AWS parts
    cost = summary.as_json()["cost_usd"]
    assert cost["model"] > 0
    assert cost["step_functions"] > 0
    assert cost["total"] == pytest.approx(cost["model"] + cost["aws"], abs=1e-5)
