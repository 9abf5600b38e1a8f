"""Orchestration overhead per turn on the embedded runtime.

Runs scripted investigations through the real state machine and prints, per turn, the
wall time minus the model's time and the slowest tool's time (tools of a turn run in
parallel): what Step Functions, the Lambda steps and the event log cost. Also the state
transitions and history events per turn.

    .venv/bin/python bench/orchestration_overhead.py [--turns 60] [--calls 3] [--runs 3]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fixloop.agent import start_investigation  # noqa: E402
from fixloop.domain import AssistantMessage, ToolResult, parse_signal  # noqa: E402
from fixloop.local import patches  # noqa: E402
from fixloop.local.runtime import EmbeddedRuntime  # noqa: E402
from fixloop.store import stores  # noqa: E402
from tests.support import alarm_event, make_repo, text, tool_use, write_script  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_once(
    rt: EmbeddedRuntime, repo: Path, script: Path, turns: int, calls: int
) -> dict[str, Any]:
    content = [
        [text(f"turn {t}"), *[tool_use("get_signal") for _ in range(calls)]]
        for t in range(1, turns)
    ]
    content.append([tool_use("finish", summary="done")])
    write_script(script, content)
    commit = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    inv = start_investigation(
        parse_signal(alarm_event()), repo=str(repo), commit=commit, model=f"scripted:{script}"
    )
    rt.watcher.wait(inv.investigation_id, timeout_s=900, poll_s=0.2)
    summary = rt.watcher.summary(inv.investigation_id)
    events = [e.event for e in stores().events.read(inv.investigation_id)]
    messages = [e for e in events if isinstance(e, AssistantMessage)]
    overheads = []
    for prev, cur in itertools.pairwise(messages):
        tools = [e for e in events if isinstance(e, ToolResult) and e.turn == prev.turn]
        wall = (cur.at - prev.at).total_seconds() * 1000
        model_ms = cur.duration_ms
        tool_ms = max((t.duration_ms for t in tools), default=0)
        overheads.append(wall - model_ms - tool_ms)
    return {
        "overheads": overheads,
        "transitions_per_turn": summary.state_transitions / summary.investigation.turns,
        "history_per_turn": summary.history_events / summary.investigation.turns,
        "executions": summary.executions,
        "max_payload": summary.max_state_payload_bytes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=60)
    parser.add_argument("--calls", type=int, default=3, help="parallel tool calls per turn")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fixloop-bench-"))
    repo = make_repo(work / "repo", {"a.py": "x = 1\n"})
    overheads: list[float] = []
    results = []
    with EmbeddedRuntime() as rt:
        patches.set_retry_sleep(lambda _s: None)
        for i in range(args.runs):
            res = run_once(rt, repo, work / f"s{i}.jsonl", args.turns, args.calls)
            overheads.extend(res["overheads"])
            results.append(res)
    print(
        f"orchestration overhead per turn, embedded runtime ({args.runs} runs x {args.turns} "
        f"turns, {args.calls} parallel tool calls per turn)"
    )
    print(f"  median        {statistics.median(overheads):8.1f} ms")
    print(f"  p95           {percentile(overheads, 0.95):8.1f} ms")
    print(f"  state transitions per turn   {results[-1]['transitions_per_turn']:.2f}")
    print(f"  history events per turn      {results[-1]['history_per_turn']:.2f}")
    print(f"  executions (generations)     {results[-1]['executions']}")
    print(f"  largest state payload        {results[-1]['max_payload']} bytes")


if __name__ == "__main__":
    main()
