"""Orchestration overhead per turn on the embedded runtime, against the bare interpreter.

Runs scripted investigations through the real state machine and prints, per turn, the
wall time minus the model's time and the slowest tool's time (tools of a turn run in
parallel): what Step Functions, the Lambda steps and the event log cost. Also the state
transitions and history events per turn, and the requests moto's server answered per turn.

In the same process and on the same runtime (same moto server, same Lambda dispatch), it
then runs a bare machine: the real ASL with every Lambda task routed to a function that
only returns its input with the fields the Choices read (Prepare -> Turn Or Continue ->
Model Turn -> Route -> Run Tools over the same number of calls -> Prepare). Its time per
turn is what the interpreter and the dispatch path cost by themselves; the ratio of
fixloop's overhead to it is what fixloop adds on top.

    .venv/bin/python bench/orchestration_overhead.py [--turns 60] [--calls 3] [--runs 3]
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fixloop import aws  # noqa: E402
from fixloop.cli.execution_stats import execution_stats  # noqa: E402
from fixloop.domain import AssistantMessage, ToolResult, parse_signal  # noqa: E402
from fixloop.intake import start_investigation  # noqa: E402
from fixloop.local import patches  # noqa: E402
from fixloop.local.handlers import (  # noqa: E402
    CONTINUE_AS_NEW_PLACEHOLDER,
    FUNCTIONS,
    STATE_MACHINE_FILE,
)
from fixloop.store import stores  # noqa: E402
from tests.runtime import LocalRuntime  # noqa: E402
from tests.support import alarm_event, make_repo, text, tool_use, write_script  # noqa: E402

BARE_PREFIX = "bench-bare"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class RequestCounter:
    """Counts the requests moto's server answers, by service and action (wraps the method
    its WSGI dispatcher picks a request's backend with, over HTTP and in process alike, for
    the life of the block)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    @contextmanager
    def counting(self) -> Iterator[None]:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication

        original = DomainDispatcherApplication.get_application
        counter = self

        def get_application(app: Any, environ: dict[str, Any]) -> Any:
            counter.see(environ)
            return original(app, environ)

        DomainDispatcherApplication.get_application = get_application  # type: ignore[method-assign,assignment]
        try:
            yield
        finally:
            DomainDispatcherApplication.get_application = original  # type: ignore[method-assign]

    def see(self, environ: dict[str, Any]) -> None:
        auth = str(environ.get("HTTP_AUTHORIZATION", ""))
        try:
            service = auth.split(",", maxsplit=1)[0].split()[1].split("/")[3]
        except IndexError:
            service = "unsigned"
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        if target:
            action = target.rsplit(".", 1)[-1]
        elif service == "lambda":
            action = "Invoke" if environ.get("PATH_INFO", "").endswith("/invocations") else "?"
        else:
            action = str(environ.get("REQUEST_METHOD", "?"))
        with self._lock:
            self.counts[f"{service}:{action}"] += 1

    def take(self) -> Counter[str]:
        with self._lock:
            taken = self.counts
            self.counts = Counter()
        return taken


def run_fixloop(
    rt: LocalRuntime, repo: Path, script: Path, turns: int, calls: int
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
        "turns": summary.investigation.turns,
        "transitions_per_turn": summary.state_transitions / summary.investigation.turns,
        "history_per_turn": summary.history_events / summary.investigation.turns,
        "executions": summary.executions,
        "max_payload": summary.max_state_payload_bytes,
    }


class BareMachine:
    """The real ASL with do-nothing Lambda functions, on the runtime's dispatch path."""

    def __init__(self, rt: LocalRuntime, calls: int) -> None:
        self._calls = calls
        self._turns = 0
        self._turn_starts: list[float] = []
        self._done = threading.Event()
        arns = {
            placeholder: rt.add_function(f"{BARE_PREFIX}-{folder}", self._handler(folder))
            for placeholder, folder in FUNCTIONS.items()
        }
        account = aws.client("sts").get_caller_identity()["Account"]
        own_arn = f"arn:aws:states:us-east-1:{account}:stateMachine:{BARE_PREFIX}"
        arns[CONTINUE_AS_NEW_PLACEHOLDER] = own_arn
        definition = STATE_MACHINE_FILE.read_text()
        for key, value in arns.items():
            definition = definition.replace("${" + key + "}", value)
        role = aws.client("iam").get_role(RoleName="fixloop-local")["Role"]["Arn"]
        self.arn: str = aws.client("stepfunctions").create_state_machine(
            name=BARE_PREFIX, definition=definition, roleArn=role, type="STANDARD"
        )["stateMachineArn"]

    def _handler(self, folder: str) -> Any:
        def prepare(event: dict[str, Any], _context: Any) -> Any:
            turn = int(event.get("turn", 0))
            done = turn >= self._turns
            return {**event, "turn": turn + 1, "action": "stop" if done else "model"}

        def model_turn(event: dict[str, Any], _context: Any) -> Any:
            self._turn_starts.append(time.perf_counter())
            refs = [{"id": f"c{i}", "runs_in": "lambda"} for i in range(self._calls)]
            return {**event["state"], "action": "tools", "tool_calls": refs}

        def nothing(event: dict[str, Any], _context: Any) -> Any:
            return event

        return {"prepare": prepare, "model_turn": model_turn}.get(folder, nothing)

    def run(self, name: str, turns: int) -> dict[str, Any]:
        self._turns = turns
        self._turn_starts = []
        sfn = aws.client("stepfunctions")
        state = {
            "investigation_id": name,
            "generation": 0,
            "turn": 0,
            "tool_concurrency": 8,
            "sandbox_heartbeat_seconds": 60,
        }
        arn = sfn.start_execution(stateMachineArn=self.arn, name=name, input=json.dumps(state))[
            "executionArn"
        ]
        while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
            time.sleep(0.2)
        if described["status"] != "SUCCEEDED":
            raise RuntimeError(f"bare machine {name}: {described}")
        stats = execution_stats(sfn, arn)
        per_turn = [(b - a) * 1000 for a, b in itertools.pairwise(self._turn_starts)]
        return {
            "per_turn": per_turn,
            "turns": len(self._turn_starts),
            "transitions_per_turn": stats.state_transitions / len(self._turn_starts),
        }


def requests_line(counts: Counter[str], turns: int) -> str:
    by_service: Counter[str] = Counter()
    for key, n in counts.items():
        by_service[key.split(":", 1)[0]] += n
    total = sum(counts.values())
    parts = ", ".join(f"{s} {n / turns:.1f}" for s, n in by_service.most_common())
    return f"{total / turns:.1f} ({parts})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=60)
    parser.add_argument("--calls", type=int, default=3, help="parallel tool calls per turn")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--actions", action="store_true", help="print requests per action")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fixloop-bench-"))
    repo = make_repo(work / "repo", {"a.py": "x = 1\n"})
    overheads: list[float] = []
    bare_times: list[float] = []
    results = []
    bare_results = []
    counter = RequestCounter()
    fixloop_requests: Counter[str] = Counter()
    bare_requests: Counter[str] = Counter()
    with LocalRuntime() as rt, counter.counting():
        patches.set_retry_sleep(lambda _s: None)
        bare = BareMachine(rt, args.calls)
        counter.take()
        for i in range(args.runs):
            res = run_fixloop(rt, repo, work / f"s{i}.jsonl", args.turns, args.calls)
            fixloop_requests += counter.take()
            overheads.extend(res["overheads"])
            results.append(res)
            bare_res = bare.run(f"bare-{i}", args.turns)
            bare_requests += counter.take()
            bare_times.extend(bare_res["per_turn"])
            bare_results.append(bare_res)
    fixloop_turns = sum(r["turns"] for r in results)
    bare_turns = sum(r["turns"] for r in bare_results)
    overhead = statistics.median(overheads)
    bare_median = statistics.median(bare_times)
    print(
        f"orchestration overhead per turn, embedded runtime ({args.runs} runs x {args.turns} "
        f"turns, {args.calls} parallel tool calls per turn)"
    )
    print(f"  median        {overhead:8.1f} ms")
    print(f"  p95           {percentile(overheads, 0.95):8.1f} ms")
    print(f"  state transitions per turn   {results[-1]['transitions_per_turn']:.2f}")
    print(f"  history events per turn      {results[-1]['history_per_turn']:.2f}")
    print(f"  executions (generations)     {results[-1]['executions']}")
    print(f"  largest state payload        {results[-1]['max_payload']} bytes")
    print(f"  requests per turn            {requests_line(fixloop_requests, fixloop_turns)}")
    print("bare state machine on the same runtime (do-nothing Lambda tasks, same states)")
    print(f"  median        {bare_median:8.1f} ms per turn")
    print(f"  p95           {percentile(bare_times, 0.95):8.1f} ms per turn")
    print(f"  state transitions per turn   {bare_results[-1]['transitions_per_turn']:.2f}")
    print(f"  requests per turn            {requests_line(bare_requests, bare_turns)}")
    print(f"ratio to the bare interpreter: {overhead / bare_median:.2f}")
    if args.actions:
        for key, n in fixloop_requests.most_common():
            print(f"  fixloop {key:45s} {n / fixloop_turns:6.2f} per turn")
        for key, n in bare_requests.most_common():
            print(f"  bare    {key:45s} {n / bare_turns:6.2f} per turn")


if __name__ == "__main__":
    main()
