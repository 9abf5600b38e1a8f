"""Running the scenarios: each run on its own fresh repository, several at once on one
embedded runtime, followed to its end, kept (``fixloop show``) and graded.

The workers are daemon threads, so Ctrl-C ends the command at once: the runtime stops its
sandboxes when the ``with`` block unwinds, whatever a worker was waiting for.
"""

from __future__ import annotations

import queue
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fixloop.cli import records
from fixloop.cli.eval.errors import PreparationError
from fixloop.cli.eval.grading import Grade, grade
from fixloop.cli.eval.logs import put_logs
from fixloop.cli.eval.repos import Sources, cache_home, remove_tree
from fixloop.cli.eval.scenario import Scenario
from fixloop.cli.runtime import keep, open_runtime
from fixloop.cli.watch import WaitTimeout, Watcher
from fixloop.config import get_settings
from fixloop.domain.events import AssistantMessage
from fixloop.errors import FixloopError
from fixloop.intake import start_investigation
from fixloop.store import StoredEvent

__all__ = ["Run", "RunResult", "run_suite"]

WAIT_GRACE_S = 300
"""Beyond ``--timeout`` (the investigation's time budget, checked between turns), how long a
turn in flight may take before the run is given up as timed out."""
REASON_CHARS = 300


@dataclass(frozen=True)
class Run:
    scenario: Scenario
    number: int
    """1..total, in the order runs are started."""
    total: int
    repeat: int
    """1..repeats: which run of its scenario this is."""
    repeats: int

    @property
    def label(self) -> str:
        again = f" (run {self.repeat}/{self.repeats})" if self.repeats > 1 else ""
        return f"[{self.number}/{self.total}] {self.scenario.name}{again}"


@dataclass
class RunResult:
    name: str
    run: int
    resolved: bool
    status: str
    """The investigation's status (delivered, finished, parked, failed, blocked), or
    ``timeout`` (still running at the limit) or ``error`` (it could not be run or graded)."""
    reason: str
    investigation_id: str | None = None
    turns: int = 0
    tool_calls: int = 0
    tokens: dict[str, int] = field(default_factory=dict)
    cost_usd: float | None = None
    wall_s: float = 0.0
    verification: dict[str, Any] | None = None
    verify_exit_code: int | None = None
    verify_s: float = 0.0
    verify_output: str = ""
    record: str | None = None
    outcome: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "run": self.run,
            "resolved": self.resolved,
            "status": self.status,
            "reason": self.reason,
            "investigation_id": self.investigation_id,
            "turns": self.turns,
            "tool_calls": self.tool_calls,
            "tokens": self.tokens,
            "cost_usd": self.cost_usd,
            "wall_s": self.wall_s,
            "verification": self.verification,
            "verify_exit_code": self.verify_exit_code,
            "verify_s": self.verify_s,
            "verify_output": self.verify_output,
            "record": self.record,
            "outcome": self.outcome,
        }


@dataclass(frozen=True)
class _Runner:
    """What every run of one ``fixloop eval`` shares."""

    watcher: Watcher
    sources: Sources
    workdir: Path
    model: str
    """``scripted`` (each scenario's own script) or an API model spec."""
    timeout_s: float
    say: Callable[[str], None]
    _logs_put: dict[str, threading.Lock] = field(default_factory=dict)
    _logs_lock: threading.Lock = field(default_factory=threading.Lock)
    _logs_done: set[str] = field(default_factory=set)

    def one(self, run: Run) -> RunResult:
        """One run, start to grade; never raises (a failure is the run's result)."""
        self.say(f"{run.label}: started")
        try:
            return self._investigate(run, self.workdir / f"run-{run.number:04d}")
        except (FixloopError, OSError) as exc:
            return self._error(run, str(exc))
        except Exception as exc:  # a bug: still report the other runs
            return self._error(run, f"{type(exc).__name__}: {exc}")

    def _error(self, run: Run, reason: str) -> RunResult:
        reason = _short(reason)
        self.say(f"{run.label}: error: {reason}")
        return RunResult(run.scenario.name, run.repeat, False, "error", reason)

    def _investigate(self, run: Run, place: Path) -> RunResult:
        scenario, label = run.scenario, run.label
        repo = place / "repo"
        try:
            commit = self.sources.new_repo(scenario, repo)
        except PreparationError as exc:
            return self._error(run, str(exc))
        self._put_logs(run)
        spec = f"scripted:{scenario.script}" if self.model == "scripted" else self.model
        started = time.monotonic()
        inv = start_investigation(
            scenario.signal,
            repo=str(repo),
            commit=commit,
            model=spec,
            state_machine_arn=self.watcher.state_machine_arn,
            budget_wall_seconds=_wall_budget(self.timeout_s),
        )
        inv_id = inv.investigation_id
        self.say(f"{label}: investigating ({inv_id})")

        def progress(stored: StoredEvent) -> None:
            if isinstance(stored.event, AssistantMessage):
                self.say(f"{label}: turn {stored.event.turn}")

        limit = self.timeout_s + WAIT_GRACE_S
        timed_out = False
        try:
            self.watcher.wait(inv_id, timeout_s=limit, on_event=progress)
        except WaitTimeout:
            timed_out = True
        data, saved = keep(self.watcher, inv_id, time.monotonic() - started)
        result = _from_summary(scenario.name, run.repeat, data, str(saved))
        if timed_out:
            result.status = "timeout"
            result.reason = f"still {data['status']} after {limit:.0f} s"
        elif data.get("pull_request"):
            branch = str(data["pull_request"]["branch"])
            _add_grade(result, grade(scenario, repo, branch, place / "grading"))
        else:
            outcome = f": {data['outcome']}" if data.get("outcome") else ""
            result.reason = _short(
                f"no pull request: the investigation ended {data['status']}{outcome}"
            )
        verdict = "resolved" if result.resolved else "not resolved"
        if result.status in ("error", "timeout"):
            verdict = result.status
        why = "" if result.resolved else f" ({result.reason})"
        self.say(f"{label}: {verdict} in {result.wall_s:.0f} s{why}")
        return result

    def _put_logs(self, run: Run) -> None:
        """The scenario's logs, put once for all its runs (before the first starts)."""
        scenario = run.scenario
        if not scenario.logs:
            return
        with self._logs_lock:
            lock = self._logs_put.setdefault(scenario.name, threading.Lock())
        with lock:
            if scenario.name in self._logs_done:
                return
            put = put_logs(scenario.logs)
            self._logs_done.add(scenario.name)
            self.say(f"{run.label}: {put} log events put into CloudWatch Logs")


def run_suite(
    scenarios: list[Scenario],
    *,
    model: str,
    repeat: int,
    parallel: int,
    timeout_s: float,
    say: Callable[[str], None],
    runtime_settings: dict[str, str | None] | None = None,
) -> list[RunResult]:
    """Run every scenario ``repeat`` times, ``parallel`` at once; the results in run order."""
    total = len(scenarios) * repeat
    todo: queue.Queue[Run] = queue.Queue()
    for n in range(repeat):
        for i, s in enumerate(scenarios):
            todo.put(Run(s, n * len(scenarios) + i + 1, total, n + 1, repeat))
    workdir = Path(tempfile.mkdtemp(prefix="fixloop-eval-"))
    sources = Sources(workdir, cache_home(records.home()), say)
    results: dict[int, RunResult] = {}
    done = threading.Event()
    lock = threading.Lock()
    try:
        with open_runtime(say, settings=runtime_settings) as (watcher, _live):
            runner = _Runner(watcher, sources, workdir, model, timeout_s, say)

            def work() -> None:
                while True:
                    try:
                        run = todo.get_nowait()
                    except queue.Empty:
                        return
                    result = runner.one(run)
                    with lock:
                        results[run.number] = result
                        if len(results) == total:
                            done.set()

            for _ in range(min(parallel, total)):
                threading.Thread(target=work, daemon=True, name="fixloop-eval").start()
            done.wait()
    finally:
        remove_tree(workdir)
    return [results[n] for n in sorted(results)]


def _from_summary(name: str, repeat: int, data: dict[str, Any], record: str) -> RunResult:
    cost = data.get("cost_usd")
    return RunResult(
        name=name,
        run=repeat,
        resolved=False,
        status=str(data["status"]),
        reason="",
        investigation_id=str(data["investigation_id"]),
        turns=int(data["turns"]),
        tool_calls=int(data["tool_calls"]),
        tokens=dict(data.get("tokens") or {}),
        cost_usd=float(cost["total"]) if cost else None,
        wall_s=float(data["duration_s"]),
        verification=data.get("verification"),
        record=record,
        outcome=data.get("outcome"),
    )


def _add_grade(result: RunResult, graded: Grade) -> None:
    result.resolved = graded.resolved
    result.reason = graded.reason
    result.verify_exit_code = graded.exit_code
    result.verify_output = graded.output
    result.verify_s = graded.seconds
    if graded.error:
        result.status = "error"


def _wall_budget(timeout_s: float) -> int:
    """The investigation's time budget: ``--timeout``, or the configured one if smaller."""
    configured = get_settings().budget_wall_seconds
    budget = max(1, int(timeout_s))
    return min(budget, configured) if configured else budget


def _short(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= REASON_CHARS else line[: REASON_CHARS - 3] + "..."
