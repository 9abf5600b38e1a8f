"""The real ASL on the embedded runtime: multi-turn runs, parallel tools, faults."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from fixloop import faults
from fixloop.domain import AssistantMessage, ToolResult
from fixloop.tools import Tool, ToolContext
from tests.integration.scenario import fingerprint, log_of, run_scripted
from tests.runtime import LocalRuntime
from tests.support import extra_tools, logs_message, text, tool_use

RUNS: Counter[str] = Counter()
_lock = threading.Lock()


class _Key(BaseModel):
    key: str


def _count(ctx: ToolContext, args: _Key) -> str:
    with _lock:
        RUNS[f"{ctx.investigation.investigation_id}/{args.key}"] += 1
    return f"counted {args.key}"


def _broken(ctx: ToolContext, args: _Key) -> str:
    raise RuntimeError("the sandbox fell over")


@pytest.fixture(scope="module", autouse=True)
def test_tools() -> Iterator[None]:
    with extra_tools(
        Tool("count", "Count a run of this key.", _Key, _count),
        Tool("broken", "Always fails as infrastructure.", _Key, _broken),
    ):
        yield


@pytest.fixture
def settings(runtime: LocalRuntime) -> Iterator[Any]:
    changed: list[str] = []

    def set_(**kv: str) -> None:
        changed.extend(kv)
        runtime.configure(**kv)

    yield set_
    runtime.configure(**dict.fromkeys(changed, None))


def _parallel_turns(n_turns: int, calls_per_turn: int) -> list[list[dict[str, Any]]]:
    turns = []
    for t in range(1, n_turns + 1):
        calls = [tool_use("count", key=f"t{t}c{c}") for c in range(calls_per_turn - 1)]
        turns.append([text(f"turn {t}"), tool_use("search_code", pattern="def "), *calls])
    turns.append([tool_use("finish", summary="Fix handler: root cause found")])
    return turns


def test_five_turns_with_parallel_tool_calls(
    runtime: LocalRuntime, repo: Path, tmp_path: Path
) -> None:
    # Given a scripted model making 4 parallel tool calls in each of 5 turns, then concluding
    turns = _parallel_turns(5, 4)
    # When the investigation runs through the real state machine, followed live
    followed: list[str] = []
    summary = run_scripted(runtime, repo, turns, tmp_path / "s.jsonl", followed=followed)
    # Then it concludes after 6 model turns with every call answered once, in order
    assert summary.investigation.status == "finished"
    assert summary.investigation.outcome == "Fix handler: root cause found"
    assert summary.investigation.turns == 6
    assert summary.tool_calls == 20 + 1  # and the repository overview gathered before turn 1
    events = log_of(summary.investigation.investigation_id)
    kinds = [e.event.type for e in events]
    assert kinds[:2] == ["context_gathering", "signal"]
    assert kinds.count("assistant_message") == 6
    assert kinds.count("note") == 6
    for turn in range(1, 6):
        msg = next(
            e.event
            for e in events
            if isinstance(e.event, AssistantMessage) and e.event.turn == turn
        )
        results = [
            e.event for e in events if isinstance(e.event, ToolResult) and e.event.turn == turn
        ]
        assert [r.tool_use_id for r in results] == [u["id"] for u in msg.tool_uses()]
        assert all(not r.is_error for r in results)
    assert kinds[-2:] == ["delivered", "status_changed"]
    # and the live follower saw every event exactly once, although results land out of order
    assert sorted(followed) == [e.position for e in events]
    inv_id = summary.investigation.investigation_id
    assert all(RUNS[f"{inv_id}/t{t}c{c}"] == 1 for t in range(1, 6) for c in range(3))
    assert summary.executions == 1
    assert summary.max_state_payload_bytes < 16 * 1024


def test_every_task_failing_once_before_and_after_its_writes(
    runtime: LocalRuntime, repo: Path, tmp_path: Path, settings: Any
) -> None:
    # Given a clean run for reference, of a signal whose stack frame makes fixloop gather the
    # suspect commits in the sandbox before turn 1
    turns = _parallel_turns(3, 3)
    signal = logs_message(
        [
            "Traceback (most recent call last):",
            '  File "/var/task/app/handler.py", line 2, in handle',
            "KeyError: 'user'",
        ]
    )
    clean = run_scripted(runtime, repo, turns, tmp_path / "clean.jsonl", signal=signal)
    # When the same scenario runs with every Task raising once before and once after its writes
    steps = ["prepare", "model_turn", "run_tool", "deliver"]
    faults.reset()
    settings(fault_plan=",".join(f"{s}:{p}" for s in steps for p in ("before", "after")))
    faulty = run_scripted(runtime, repo, turns, tmp_path / "faulty.jsonl", signal=signal)
    # Then every fault fired, the investigation completed, and its log is the clean one:
    # nothing duplicated, nothing lost, and no tool ran twice
    assert faults.fired() == {f"{s}:{p}" for s in steps for p in ("before", "after")}
    assert faulty.investigation.status == "finished"
    clean_log = fingerprint(log_of(clean.investigation.investigation_id))
    faulty_log = fingerprint(log_of(faulty.investigation.investigation_id))
    assert [row[:2] for row in faulty_log] == [row[:2] for row in clean_log]
    assert ("t000000.0.context", "context_gathering") in [row[:2] for row in faulty_log]
    strip = [(p, t) for p, t, _ in faulty_log]
    assert len(strip) == len(set(strip))
    inv_id = faulty.investigation.investigation_id
    runs = {k: v for k, v in RUNS.items() if k.startswith(inv_id)}
    assert len(runs) == 3 * 2
    assert set(runs.values()) == {1}
    assert runtime.invocations["fixloop-run_tool"] > 0


def test_a_tool_that_keeps_failing_becomes_an_error_result(
    runtime: LocalRuntime, repo: Path, tmp_path: Path
) -> None:
    # Given a tool whose task fails on every attempt (an infrastructure failure)
    turns = [
        [tool_use("broken", key="x"), tool_use("count", key="y")],
        [tool_use("finish", summary="Could not run the tool; stopping.")],
    ]
    # When the investigation runs
    summary = run_scripted(runtime, repo, turns, tmp_path / "s.jsonl")
    # Then the model saw an is_error result for it, the other call succeeded, and it went on
    events = log_of(summary.investigation.investigation_id)
    results = {e.event.name: e.event for e in events if isinstance(e.event, ToolResult)}
    assert results["broken"].is_error
    assert "could not run after retries" in results["broken"].content
    assert "RuntimeError" in results["broken"].content
    assert not results["count"].is_error
    assert summary.investigation.status == "finished"
    assert summary.investigation.outcome == "Could not run the tool; stopping."


def test_model_visible_errors_do_not_stop_the_loop(
    runtime: LocalRuntime, repo: Path, tmp_path: Path
) -> None:
    # Given calls with a missing file, invalid input, and a conclusion with invalid input
    turns = [
        [
            tool_use("read_file", path="nope.py"),
            tool_use("read_file"),
            tool_use("open_pull_request", title=""),
        ],
        [text("The handler reads a missing key. Nothing to change in this repo.")],
    ]
    summary = run_scripted(runtime, repo, turns, tmp_path / "s.jsonl")
    events = log_of(summary.investigation.investigation_id)
    results = [e.event for e in events if isinstance(e.event, ToolResult) and e.event.turn > 0]
    assert [r.is_error for r in results] == [True, True, True]
    assert "nope.py does not exist" in results[0].content
    assert "path: Field required" in results[1].content
    # an end_turn without tools concludes with the text as the summary
    assert summary.investigation.status == "finished"
    assert summary.investigation.outcome.startswith("The handler reads a missing key")


def test_a_script_error_fails_the_investigation_cleanly(
    runtime: LocalRuntime, repo: Path, tmp_path: Path
) -> None:
    # Given a script shorter than the investigation needs
    turns = [[tool_use("count", key="only")]]
    summary = run_scripted(runtime, repo, turns, tmp_path / "s.jsonl")
    # Then the investigation is failed with the reason, not retried forever
    assert summary.investigation.status == "failed"
    assert "ScriptError" in summary.investigation.outcome
    assert "turn 2 was requested" in summary.investigation.outcome
    assert log_of(summary.investigation.investigation_id)[-2].event.type == "failed"
