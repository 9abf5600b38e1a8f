"""The chaos on the embedded runtime (fixloop.local.patches.chaos): an investigation under each
fault AWS produces and moto does not ends as the clean run does, or fails visibly and is
reconciled: failed with the cause, never ``running`` for ever."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from fixloop import aws
from fixloop.cli.watch import RunSummary
from fixloop.domain import (
    AssistantMessage,
    Delivered,
    Failed,
    QuestionAsked,
    ToolResult,
    UserMessage,
)
from fixloop.domain.events import ContextGathering
from fixloop.local.patches import chaos
from fixloop.sandbox import dispatch
from fixloop.store import StoredEvent, stores
from fixloop.tools import Tool, ToolContext
from tests.fakes.github import GitHubServer
from tests.integration.channels import Channels, serving
from tests.integration.scenario import fingerprint, log_of, run_scripted, start_scripted
from tests.runtime import LocalRuntime
from tests.support import extra_tools, make_repo, text, tool_use, wait_for

RUNS: Counter[str] = Counter()
SLOW_S = 3.0
"""How long the slow tool takes: past Run Tool's 300 s timeout at a time scale of 0.005."""

TURNS = [
    [
        text("Reading the handler and counting."),
        tool_use("count", key="a"),
        tool_use("count", key="b"),
        tool_use("read_file", path="app/handler.py"),
    ],
    [text("Once more."), tool_use("count", key="c")],
    [tool_use("finish", summary="The handler reads a missing key.")],
]
"""Lambda tools in parallel with a sandbox tool, over three turns."""


class _Key(BaseModel):
    key: str


def _count(ctx: ToolContext, args: _Key) -> str:
    RUNS[f"{ctx.investigation.investigation_id}/{args.key}"] += 1
    return f"counted {args.key}"


def _slow(ctx: ToolContext, args: _Key) -> str:
    time.sleep(SLOW_S)
    return f"slow {args.key} done"


@pytest.fixture(scope="module", autouse=True)
def tools() -> Iterator[None]:
    with extra_tools(
        Tool("count", "Count a run of this key.", _Key, _count),
        Tool("slow", "Takes a while.", _Key, _slow),
    ):
        yield


@pytest.fixture(scope="module")
def code(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_repo(
        tmp_path_factory.mktemp("chaos") / "svc",
        {"app/handler.py": "def handle(event):\n    return event['user']['id']\n"},
    )


@contextmanager
def chaos_on(
    runtime: LocalRuntime, spec: str, *, time_scale: float = 0.01, seed: int = 5
) -> Iterator[None]:
    runtime.configure(chaos=spec, chaos_time_scale=str(time_scale), chaos_seed=str(seed))
    try:
        yield
    finally:
        runtime.configure(chaos=None, chaos_time_scale=None, chaos_seed=None)


def run(runtime: LocalRuntime, code: Path, script: Path, turns: Any = None) -> RunSummary:
    """Run a scripted investigation to its end; the test's own requests (starting it,
    following it) are not the system under test, so the chaos spares them."""
    with chaos.sparing():
        return run_scripted(runtime, code, turns or TURNS, script)


def normalized(events: list[StoredEvent], script: Path) -> list[tuple[str, str, str]]:
    """The run's fingerprint (tests/integration/scenario.py) with what differs from one
    investigation to the next named by its place: the id, the tool call ids, the script.

    Stream chunks are left out: they are drafts for followers, written best effort (a chunk
    whose write is throttled is dropped, a retried turn streams under its next attempt
    number); the messages they draft are in the log whole either way."""
    names = {str(script): "SCRIPT"}
    if events:
        names[events[0].investigation_id] = "INVESTIGATION"
    for e in events:
        if isinstance(e.event, AssistantMessage):
            for use in e.event.tool_uses():
                names.setdefault(str(use["id"]), f"CALL-{len(names)}")
    out = []
    for position, kind, body in fingerprint(events):
        if kind == "stream_chunk":
            continue
        for raw, name in names.items():
            body = body.replace(raw, name)  # noqa: PLW2901 - the row, named
        out.append((position, kind, body))
    return out


def failures(runtime: LocalRuntime, investigation_id: str, in_state: str = "") -> Counter[str]:
    """The errors the state machine saw in the investigation's executions (task failures and
    time-outs), by name; only those of the state ``in_state`` when given.

    A failure's state is the one its own chain of events (``previousEventId``) entered last:
    the Map's iterations run at once, so the state entered last in the history may be
    another iteration's."""
    sfn = aws.client("stepfunctions")
    seen: Counter[str] = Counter()
    with chaos.sparing():
        for execution in runtime.watcher.executions(investigation_id):
            pages = sfn.get_paginator("get_execution_history")
            events = {
                event["id"]: event
                for page in pages.paginate(executionArn=execution["executionArn"])
                for event in page["events"]
            }
            for event in events.values():
                details = event.get("taskFailedEventDetails") or event.get(
                    "taskTimedOutEventDetails"
                )
                if details and in_state in ("", _state_of(event, events)):
                    seen[str(details.get("error"))] += 1
    return seen


def _state_of(event: dict[str, Any], events: dict[int, dict[str, Any]]) -> str:
    """The state ``event`` happened in: the last one entered on its chain of events."""
    at: dict[str, Any] | None = event
    while at is not None:
        entered = at.get("stateEnteredEventDetails")
        if entered:
            return str(entered["name"])
        at = events.get(at.get("previousEventId", 0))
    return ""


def assert_each_tool_ran(runtime: LocalRuntime, investigation_id: str, keys: set[str]) -> None:
    """Each Lambda tool call ran, once unless Run Tool failed after running it: a Run Tool
    whose result's write was throttled past the SDK's retries runs its (read-only) tool again
    when the state machine retries it (at least once: docs/architecture.md, the event log),
    while the log holds its result once."""
    runs = {k.split("/")[1]: n for k, n in RUNS.items() if k.startswith(investigation_id)}
    assert set(runs) == keys
    again = sum(runs.values()) - len(keys)
    assert again <= failures(runtime, investigation_id, in_state="Run Tool")["StorageThrottled"]


@pytest.fixture(scope="module")
def clean(runtime: LocalRuntime, code: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The scenario run without chaos: the reference."""
    script = tmp_path_factory.mktemp("clean") / "s.jsonl"
    summary = run(runtime, code, script)
    assert summary.investigation.status == "finished"
    return normalized(log_of(summary.investigation.investigation_id), script)


ALL = (
    "dynamodb_throttle=0.1,dynamodb_throttle_burst=0.05,lambda_timeouts,heartbeat_clock,"
    "missing_path_runtime"
)


@pytest.mark.parametrize(
    ("spec", "scale"),
    [
        ("dynamodb_throttle=0.2", 0.01),
        ("dynamodb_throttle_burst=0.05", 0.01),
        (ALL, 0.05),
    ],
    ids=["throttle", "burst", "all"],
)
def test_a_run_under_each_fault_ends_as_the_clean_run(
    runtime: LocalRuntime, code: Path, clean: Any, tmp_path: Path, spec: str, scale: float
) -> None:
    # Given the scenario's clean log, when it runs again under the fault
    before = chaos.fired()
    with chaos_on(runtime, spec, time_scale=scale):
        summary = run(runtime, code, tmp_path / "s.jsonl")
    fired = chaos.fired() - before
    inv_id = summary.investigation.investigation_id

    # Then it ends as the clean run did, with the same log, each tool run (once, unless its
    # result's write failed)
    assert summary.investigation.status == "finished"
    assert normalized(log_of(inv_id), tmp_path / "s.jsonl") == clean
    assert_each_tool_ran(runtime, inv_id, {"a", "b", "c"})
    # and the throttles did happen: absorbed by the SDK, or past it and retried by the
    # state machine as StorageThrottled
    if "dynamodb_throttle=" in spec:
        assert fired["dynamodb_throttle"] > 0
    if "burst" in spec:
        assert fired["dynamodb_throttle_burst"] > 0
    if spec.startswith("dynamodb_throttle_burst"):
        assert failures(runtime, inv_id)["StorageThrottled"] > 0


def test_a_conflicting_write_of_a_message_is_refused_then_stored_once(
    runtime: LocalRuntime, code: Path, tmp_path: Path
) -> None:
    # Given an investigation waiting for an answer, reachable over the REST API
    turns = [
        [tool_use("ask_human", question="Retry or fail fast?")],
        [tool_use("finish", summary="Will retry as asked.")],
    ]
    with serving(runtime) as channels:
        with chaos.sparing():
            inv_id = start_scripted(code, turns, tmp_path / "s.jsonl")
            wait_for(lambda: stores().waits.get(inv_id) is not None, what="the wait")

        # When the answer's write meets a concurrent transaction
        with chaos_on(runtime, "transaction_conflict=1"):
            refused = channels.message(inv_id, "retry", delivery_id="d-1")
        # Then the sender is told to send it again, and nothing was stored
        assert refused[0] == 503
        assert "TransactionConflict" in refused[1]["message"]
        assert stores().inbox.pending(inv_id) == []

        # When it is sent again (twice: a redelivery)
        again = channels.message(inv_id, "retry", delivery_id="d-1")
        twice = channels.message(inv_id, "retry", delivery_id="d-1")
    assert again[0] < 300 and twice[0] < 300

    # Then it resumed the investigation, which read it once and concluded
    with chaos.sparing():
        final = runtime.watcher.wait(inv_id, timeout_s=60)
    assert final.status == "finished"
    said = [e.event.text for e in log_of(inv_id) if isinstance(e.event, UserMessage)]
    assert said == ["retry"]


def test_a_tool_past_its_function_timeout_becomes_an_error_the_model_sees(
    runtime: LocalRuntime, code: Path, tmp_path: Path
) -> None:
    # Given a call that takes longer than Run Tool's timeout (300 s, scaled to 1.5 s)
    turns = [
        [tool_use("slow", key="s"), tool_use("count", key="fast")],
        [tool_use("finish", summary="The slow tool could not finish.")],
    ]
    # When the investigation runs with Lambda's timeouts enforced
    before = chaos.fired()
    with chaos_on(runtime, "lambda_timeouts", time_scale=0.005):
        summary = run(runtime, code, tmp_path / "s.jsonl", turns)
    inv_id = summary.investigation.investigation_id

    # Then each attempt timed out as Lambda times out, and after the retries the model got
    # the failure as the call's result (the late runs of the tool wrote nothing)
    assert (chaos.fired() - before)["lambda_timeouts"] >= 3
    assert failures(runtime, inv_id)["Sandbox.Timedout"] >= 3
    results = {e.event.name: e.event for e in log_of(inv_id) if isinstance(e.event, ToolResult)}
    assert results["slow"].is_error
    assert "Sandbox.Timedout" in results["slow"].content
    assert "Task timed out after 300.00 seconds" in results["slow"].content
    assert not results["count"].is_error
    assert summary.investigation.status == "finished"


@pytest.fixture
def short_heartbeats(runtime: LocalRuntime) -> Iterator[None]:
    runtime.configure(sandbox_heartbeat_seconds="2")
    yield
    runtime.configure(sandbox_heartbeat_seconds=None)


def test_a_slow_sandbox_start_is_kept_alive_by_the_dispatchers_heartbeats(
    runtime: LocalRuntime,
    code: Path,
    tmp_path: Path,
    short_heartbeats: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given sandboxes that take 4.5 s to start (90 s scaled), longer than the 2 s heartbeat
    # interval, with the heartbeat clock running through the dispatcher's invocation
    turns = [
        [tool_use("read_file", path="app/handler.py")],
        [tool_use("finish", summary="Read it.")],
    ]
    spec = "sandbox_start=90,heartbeat_clock"
    # When a code tool's call waits for its sandbox to start
    with chaos_on(runtime, spec, time_scale=0.05):
        kept = run(runtime, code, tmp_path / "kept.jsonl", turns)
    kept_id = kept.investigation.investigation_id

    # Then the dispatcher's heartbeats kept the waiting task alive: no time-out, one sandbox
    assert kept.investigation.status == "finished"
    assert failures(runtime, kept_id)["States.Timeout"] == 0
    assert runtime.sandboxes.launched_for(kept_id) == 1
    results = [e.event for e in log_of(kept_id) if isinstance(e.event, ToolResult)]
    # (the repository overview gathered before turn 1 ran in that sandbox too)
    (overview,) = [r for r in results if r.turn == 0]
    assert not overview.is_error
    (read,) = [r for r in results if r.turn > 0]
    assert not read.is_error and "def handle" in read.content

    # And without those heartbeats (as before the dispatcher sent them), the same start times
    # the task out, and only its retries get the call through
    monkeypatch.setattr(dispatch._Heartbeat, "beat", lambda self: None)
    with chaos_on(runtime, spec, time_scale=0.05):
        unkept = run(runtime, code, tmp_path / "unkept.jsonl", turns)
    assert failures(runtime, unkept.investigation.investigation_id)["States.Timeout"] >= 1


def test_a_missing_path_fails_the_execution_and_reconcile_closes_it(
    runtime: LocalRuntime, code: Path, tmp_path: Path
) -> None:
    # Given a Prepare that, once, returns a payload without the action the next Choice reads
    # (a step answering what the state machine does not expect), and a Slack channel
    original = runtime.replace_handler("fixloop-prepare", lambda e, c: None)
    calls: Counter[str] = Counter()

    def prepare(event: dict[str, Any], context: Any) -> Any:
        calls["prepare"] += 1
        answer = original(event, context)
        if calls["prepare"] == 2:
            return {k: v for k, v in answer.items() if k != "action"}
        return answer

    runtime.replace_handler("fixloop-prepare", prepare)
    mark_failed_before = runtime.invocations.get("fixloop-mark_failed", 0)
    try:
        with serving(runtime) as channels:
            # When the investigation runs with Step Functions' States.Runtime
            with chaos_on(runtime, "missing_path_runtime"):
                summary = run(runtime, code, tmp_path / "s.jsonl")
            inv_id = summary.investigation.investigation_id
            with chaos.sparing():
                (execution,) = runtime.watcher.executions(inv_id)
                arn = execution["executionArn"]
                described = aws.client("stepfunctions").describe_execution(executionArn=arn)
                # (and its end is delivered once more, as EventBridge may)
                again = aws.client("lambda").invoke(
                    FunctionName="fixloop-reconcile",
                    Payload=json.dumps({"detail": _detail(described)}).encode(),
                )
            posts = [m["text"] for m in channels.slack_api.messages]
    finally:
        runtime.replace_handler("fixloop-prepare", original)

    # Then its execution failed with no Catch running (no Mark Failed), and reconcile, given
    # the execution's end, closed the investigation with the cause: not running for ever
    assert (described["status"], described["error"]) == ("FAILED", "States.Runtime")
    assert runtime.invocations.get("fixloop-mark_failed", 0) == mark_failed_before
    assert summary.investigation.status == "failed"
    assert summary.investigation.outcome.startswith("States.Runtime: ")
    (failed,) = [e.event for e in log_of(inv_id) if isinstance(e.event, Failed)]
    assert failed.error == "States.Runtime"
    assert "Invalid path '$.action'" in failed.cause
    # and announced it once, however often the end was delivered
    assert "FunctionError" not in again
    assert sum(1 for p in posts if p.startswith("Failed: States.Runtime")) == 1


def _detail(described: dict[str, Any]) -> dict[str, Any]:
    """An execution's DescribeExecution as an "Execution Status Change" event's detail."""
    return {
        k: (int(v.timestamp() * 1000) if hasattr(v, "timestamp") else v)
        for k, v in described.items()
        if k != "ResponseMetadata"
    }


EVERYTHING = (
    "dynamodb_throttle=0.1,dynamodb_throttle_burst=0.05,transaction_conflict=0.5,"
    "lambda_timeouts,sandbox_start=20,heartbeat_clock,missing_path_runtime"
)
"""Every fault at once: throttles, conflicts, timeouts, a 20 s sandbox start (1 s scaled)."""


@pytest.fixture
def github(
    runtime: LocalRuntime, code: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[GitHubServer]:
    with GitHubServer(code) as server:
        monkeypatch.setenv("GITHUB_TOKEN", next(iter(server.tokens)))
        runtime.configure(github_api_url=server.base_url, github_seconds_between_writes="0")
        yield server
        runtime.configure(github_api_url=None, github_seconds_between_writes=None)


def _send_until_accepted(channels: Channels, inv_id: str, text: str) -> list[int]:
    """Send a person's message as a sender does: again, same delivery id, while it is told
    to (503 with Retry-After); returns the statuses answered."""
    statuses: list[int] = []
    for _ in range(20):
        status, _body = channels.message(inv_id, text, delivery_id="d-everything")
        statuses.append(status)
        if status < 300:
            return statuses
        assert status == 503, _body
    raise AssertionError(f"the message was never accepted: {statuses}")


def test_a_whole_investigation_under_every_fault_loses_and_repeats_nothing(
    runtime: LocalRuntime, code: Path, tmp_path: Path, github: GitHubServer
) -> None:
    # Given an investigation that edits in its sandbox, asks a person, counts on Lambda and
    # delivers a pull request, run with every fault the chaos produces
    turns = [
        [tool_use("write_file", path="fix.txt", content="fixed\n"), tool_use("count", key="w")],
        [tool_use("ask_human", question="Open the pull request?")],
        [tool_use("count", key="x")],
        [tool_use("open_pull_request", title="Fix", body="Root cause: none.")],
    ]
    before = chaos.fired()
    with serving(runtime) as channels, chaos_on(runtime, EVERYTHING, time_scale=0.05):
        with chaos.sparing():
            inv_id = start_scripted(code, turns, tmp_path / "s.jsonl", github_repo=github.full_name)
            wait_for(lambda: stores().waits.get(inv_id) is not None, timeout_s=60, what="wait")
        # When the person answers (their messages meet the same faults)
        statuses = _send_until_accepted(channels, inv_id, "yes")
        with chaos.sparing():
            final = runtime.watcher.wait(inv_id, timeout_s=120)
    fired = chaos.fired() - before

    # Then it delivered: one pull request, opened by one request to GitHub
    assert final.status == "delivered", final.outcome
    assert len(github.pulls) == 1
    opened = [r for r in github.requests if r.method == "POST" and r.path.endswith("/pulls")]
    assert len(opened) == 1
    # and its log has each turn once, each call answered once (the question by its asking,
    # the pull request by the delivery), the person's message stored once
    events = log_of(inv_id)
    said = [e.event for e in events if isinstance(e.event, AssistantMessage)]
    assert len(said) == len(turns)
    assert len({e.position for e in events if isinstance(e.event, AssistantMessage)}) == 4
    calls = {str(u["id"]): str(u["name"]) for m in said for u in m.tool_uses()}
    # (with the calls fixloop made itself before turn 1: the repository overview)
    (gathering,) = [e.event for e in events if isinstance(e.event, ContextGathering)]
    gathered = {str(u["id"]): str(u["name"]) for u in gathering.calls}
    assert list(gathered.values()) == ["repository_overview"]
    calls.update(gathered)
    answered = [e.event.tool_use_id for e in events if isinstance(e.event, ToolResult)]
    asked = [e.event.tool_use_id for e in events if isinstance(e.event, QuestionAsked)]
    assert sorted(answered + asked) == sorted(
        k for k, n in calls.items() if n != "open_pull_request"
    )
    assert [calls[a] for a in asked] == ["ask_human"]
    (delivered,) = [e.event for e in events if isinstance(e.event, Delivered)]
    assert delivered.pull_request is not None
    assert delivered.pull_request.number == github.pulls[0].number
    assert "fix.txt" in delivered.diff and delivered.diff.count("+fixed") == 1
    assert [e.event.text for e in events if isinstance(e.event, UserMessage)] == ["yes"]
    # and each Lambda tool ran (again only where its result's write failed)
    assert_each_tool_ran(runtime, inv_id, {"w", "x"})
    # while the faults did happen
    assert fired["dynamodb_throttle"] > 0
    assert fired["sandbox_start"] >= 1
    assert fired["transaction_conflict"] >= 1
    assert statuses[-1] < 300
