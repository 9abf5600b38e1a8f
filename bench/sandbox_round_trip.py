"""Tool round trip through the sandbox on the embedded runtime, cold and warm.

From the moment a tool call exists (its assistant message is in the log) to its result in
the log: the Route and Map states, the dispatch Lambda, the HTTP hand-off, the tool itself
and the result write. Cold is an investigation's first call (the sandbox process starts and
clones the repository); warm is every later call on the same sandbox.

    .venv/bin/python bench/sandbox_round_trip.py [--investigations 5] [--turns 10]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fixloop.domain import AssistantMessage, ToolResult, parse_signal  # noqa: E402
from fixloop.intake import start_investigation  # noqa: E402
from fixloop.local import patches  # noqa: E402
from fixloop.store import stores  # noqa: E402
from tests.runtime import LocalRuntime  # noqa: E402
from tests.support import alarm_event, make_repo, tool_use, write_script  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--investigations", type=int, default=5)
    parser.add_argument("--turns", type=int, default=10)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fixloop-bench-"))
    files = {f"src/m{i}.py": "".join(f"x{j} = {j}\n" for j in range(200)) for i in range(50)}
    repo = make_repo(work / "repo", files)
    commit = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    cold: list[float] = []
    warm: list[float] = []
    with LocalRuntime() as rt:
        patches.set_retry_sleep(lambda _s: None)
        for i in range(args.investigations):
            turns = [[tool_use("read_file", path=f"src/m{t % 50}.py")] for t in range(args.turns)]
            turns.append([tool_use("finish", summary="done")])
            script = write_script(work / f"s{i}.jsonl", turns)
            inv = start_investigation(
                parse_signal(alarm_event()),
                repo=str(repo),
                commit=commit,
                model=f"scripted:{script}",
            )
            rt.watcher.wait(inv.investigation_id, timeout_s=600)
            events = [e.event for e in stores().events.read(inv.investigation_id)]
            asked = {e.turn: e.at for e in events if isinstance(e, AssistantMessage)}
            for result in (e for e in events if isinstance(e, ToolResult)):
                ms = (result.at - asked[result.turn]).total_seconds() * 1000
                (cold if result.turn == 1 else warm).append(ms)
    print(
        f"sandbox tool round trip, embedded runtime ({args.investigations} investigations x "
        f"{args.turns} read_file calls; call in the log -> result in the log)"
    )
    for name, values in (("cold", cold), ("warm", warm)):
        print(
            f"  {name:<5} median {statistics.median(values):7.1f} ms   "
            f"p95 {percentile(values, 0.95):7.1f} ms   (n={len(values)})"
        )
    print(f"  cold/warm median ratio {statistics.median(cold) / statistics.median(warm):.1f}x")


if __name__ == "__main__":
    main()
