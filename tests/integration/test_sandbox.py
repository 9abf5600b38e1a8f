"""Code tools in sandboxes on the embedded runtime: warm reuse, loss mid-call, isolation."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from fixloop.domain import Delivered, ToolResult
from fixloop.sandbox.snapshots import SnapshotStore
from fixloop.store import stores
from fixloop.tools import Tool, ToolContext
from tests.integration.scenario import log_of, run_scripted, start_scripted
from tests.runtime import LocalRuntime
from tests.support import extra_tools, processes_with, text, tool_use


@pytest.fixture
def fast_heartbeats(runtime: LocalRuntime) -> Iterator[None]:
    """A lost sandbox is noticed after 3 s instead of a minute."""
    runtime.configure(sandbox_heartbeat_seconds="3")
    yield
    runtime.configure(sandbox_heartbeat_seconds=None)


def _results(investigation_id: str) -> dict[str, ToolResult]:
    """The model's tool results by call id (not the overview gathered before turn 1)."""
    return {
        e.event.tool_use_id: e.event
        for e in log_of(investigation_id)
        if isinstance(e.event, ToolResult) and e.event.turn > 0
    }


def _delivered(investigation_id: str) -> Delivered:
    (event,) = [e.event for e in log_of(investigation_id) if isinstance(e.event, Delivered)]
    return event


def test_code_tools_edit_and_test_in_one_warm_sandbox(
    runtime: LocalRuntime, repo: Path, tmp_path: Path
) -> None:
    # Given a model that reads, writes a test, runs it, fixes the code and runs it again
    turns = [
        [tool_use("read_file", path="app/handler.py"), tool_use("list_files", glob="*.py")],
        [
            tool_use(
                "write_file",
                path="tests/test_handler.py",
                content="from app.handler import handle\n\n"
                "def test_missing_user():\n    assert handle({}) is None\n",
            )
        ],
        [tool_use("run_command", command="python -m pytest -q tests")],
        [
            tool_use(
                "edit_file",
                path="app/handler.py",
                old_text="    return event['user']['id']",
                new_text="    return (event.get('user') or {}).get('id')",
            )
        ],
        [tool_use("run_command", command="python -m pytest -q tests")],
        [tool_use("open_pull_request", title="Handle events without a user", body="Fixed.")],
    ]
    # When it runs
    summary = run_scripted(runtime, repo, turns, tmp_path / "s.jsonl")
    inv_id = summary.investigation.investigation_id
    # Then the failing run and the passing run are both in the log, from one warm sandbox
    results = list(_results(inv_id).values())
    runs = [r.content for r in results if r.name == "run_command"]
    assert "exit code 1" in runs[0]
    assert "exit code 0" in runs[1]
    assert "1 passed" in runs[1]
    assert summary.investigation.status == "delivered"
    assert runtime.sandboxes.launched_for(inv_id) == 1
    # and the delivered change is the workspace's diff against the investigated commit
    diff = _delivered(inv_id).diff
    assert "+    return (event.get('user') or {}).get('id')" in diff
    assert "tests/test_handler.py" in diff
    # and the repository itself is untouched
    assert "event['user']['id']" in (repo / "app/handler.py").read_text()


def test_a_sandbox_killed_mid_call_is_replaced_and_nothing_is_applied_twice(
    runtime: LocalRuntime, repo: Path, tmp_path: Path, fast_heartbeats: None
) -> None:
    # Given an edit, then a slow command that appends a line, during which the sandbox dies
    # (it is seen to have started by its sleep, with a duration no other process has: the
    # command, confined, cannot write outside its workspace)
    sleep = f"sleep 2.{uuid.uuid4().int % 10**6:06d}"
    turns = [
        [tool_use("edit_file", path="app/util.py", old_text="return x", new_text="return x  # v2")],
        [
            tool_use(
                "run_command",
                command=f"echo run >> runs.txt; {sleep}; echo line >> out.txt",
            )
        ],
        [tool_use("git_diff")],
        [tool_use("open_pull_request", title="t", body="b")],
    ]
    investigation_id = start_scripted(repo, turns, tmp_path / "s.jsonl")

    killed: list[int] = []

    def kill_when_started() -> None:
        deadline = time.monotonic() + 60
        while not processes_with(sleep) and time.monotonic() < deadline:
            time.sleep(0.05)
        killed.append(runtime.sandboxes.kill(investigation_id))

    killer = threading.Thread(target=kill_when_started)
    killer.start()
    # When the investigation runs and its sandbox is killed in the middle of the command
    runtime.watcher.wait(investigation_id, timeout_s=120)
    killer.join()
    # Then it completed on a replacement sandbox, with the edit applied exactly once and
    # the interrupted command's effect present once (it re-ran on the restored workspace)
    assert killed == [1]
    assert stores().investigations.get(investigation_id).status == "delivered"
    assert runtime.sandboxes.launched_for(investigation_id) == 2
    diff = _delivered(investigation_id).diff
    assert diff.count("+    return x  # v2") == 1
    assert "+line" in diff
    assert diff.count("+line") == 1
    results = [r for r in _results(investigation_id).values()]
    assert [r.is_error for r in results] == [False, False, False]


def test_a_sandbox_lost_after_journaling_a_change_is_not_applied_again(
    runtime: LocalRuntime, repo: Path, tmp_path: Path, fast_heartbeats: None
) -> None:
    # Given a sandbox that dies right after snapshotting an edit, before writing its result
    runtime.configure(fault_plan="sandbox:after_snapshot", fault_dir=str(tmp_path))
    try:
        turns = [
            [tool_use("edit_file", path="app/util.py", old_text="return x", new_text="return -x")],
            [tool_use("run_command", command="echo once >> out.txt")],
            [tool_use("finish", summary="done")],
        ]
        # When the investigation runs
        summary = run_scripted(runtime, repo, turns, tmp_path / "s.jsonl")
    finally:
        runtime.configure(fault_plan=None, fault_dir=None)
    # Then the replacement found the edit in the journal and returned its result instead of
    # editing again (which would have failed: the old text is gone)
    inv_id = summary.investigation.investigation_id
    assert (tmp_path / "fired-sandbox-after_snapshot").exists()
    assert runtime.sandboxes.launched_for(inv_id) == 2
    results = list(_results(inv_id).values())
    assert [r.is_error for r in results] == [False, False]
    assert results[0].content.startswith("edited app/util.py")
    snapshot = SnapshotStore(stores().blobs).load(inv_id)
    assert snapshot is not None
    assert snapshot.patch.count("+    return -x") == 1
    assert snapshot.patch.count("+once") == 1


def test_several_investigations_have_their_own_sandboxes(
    runtime: LocalRuntime, repo: Path, tmp_path: Path
) -> None:
    # Given three investigations of the same repository started together
    ids = []
    for n in range(3):
        turns = [
            [tool_use("write_file", path=f"mine-{n}.txt", content=f"{n}\n")],
            [tool_use("list_files", glob="mine-*")],
            [tool_use("finish", summary=f"done {n}")],
        ]
        ids.append(start_scripted(repo, turns, tmp_path / f"s{n}.jsonl"))
    # When they run at once
    for inv_id in ids:
        runtime.watcher.wait(inv_id, timeout_s=120)
    # Then each saw only its own workspace
    for n, inv_id in enumerate(ids):
        listing = next(r for r in _results(inv_id).values() if r.name == "list_files").content
        assert listing.split() == [f"mine-{n}.txt"]
        record = stores().sandboxes.get(inv_id)
        assert record is not None
    sandbox_ids = {stores().sandboxes.get(i).sandbox_id for i in ids}  # type: ignore[union-attr]
    assert len(sandbox_ids) == 3


def test_a_sandbox_stops_itself_when_its_investigation_closes(
    runtime: LocalRuntime, repo: Path, tmp_path: Path, fast_heartbeats: None
) -> None:
    turns: list[list[dict[str, Any]]] = [
        [tool_use("git_diff")],
        [text("Nothing changed."), tool_use("finish", summary="no change")],
    ]
    summary = run_scripted(runtime, repo, turns, tmp_path / "s.jsonl")
    inv_id = summary.investigation.investigation_id
    deadline = time.monotonic() + 15
    while runtime.sandboxes.running(inv_id) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert runtime.sandboxes.running(inv_id) == 0
    record = stores().sandboxes.get(inv_id)
    assert record is not None and record.status == "stopped"


class _Pause(BaseModel):
    seconds: float


def _pause(ctx: ToolContext, args: _Pause) -> str:
    time.sleep(args.seconds)
    return f"paused {args.seconds} s"


def test_an_idle_sandbox_stops_and_the_next_call_gets_a_new_one_with_the_edits(
    runtime: LocalRuntime, repo: Path, tmp_path: Path
) -> None:
    # Given sandboxes that stop after 1 s without calls, and an investigation that edits,
    # then spends longer than that on a tool outside the sandbox, then reads the edited file
    runtime.configure(sandbox_idle_seconds="1")
    try:
        turns = [
            [tool_use("write_file", path="notes.txt", content="kept\n")],
            [tool_use("pause", seconds=3)],
            [tool_use("read_file", path="notes.txt")],
            [tool_use("finish", summary="done")],
        ]
        started = time.monotonic()
        with extra_tools(Tool("pause", "Wait (tests only).", _Pause, _pause)):
            summary = run_scripted(runtime, repo, turns, tmp_path / "s.jsonl")
    finally:
        runtime.configure(sandbox_idle_seconds=None)
    # Then the first sandbox stopped itself while idle, and its successor restored the edit
    inv_id = summary.investigation.investigation_id
    assert time.monotonic() - started > 1
    assert runtime.sandboxes.launched_for(inv_id) == 2
    read = [r for r in _results(inv_id).values() if r.name == "read_file"]
    assert "kept" in read[0].content
