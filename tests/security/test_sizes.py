"""Attack 4: sizes without bound. A 50 MB write_file, a command that leaves a 30 MB random
file in the workspace: neither may reach the pull request, and the sandbox's memory stays
bounded while it snapshots the workspace after each call."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from fixloop.domain import Delivered, ToolResult
from fixloop.errors import ToolFailed
from fixloop.sandbox import Workspace
from fixloop.sandbox.protocol import snapshot_key
from fixloop.sandbox.snapshots import SnapshotStore
from fixloop.store import stores
from tests.integration.scenario import log_of, start_scripted
from tests.runtime import LocalRuntime
from tests.security.calls import call, peak_memory
from tests.support import tool_use

PEAK_MEMORY_BYTES = 250_000_000
"""The sandbox server's peak resident memory (an idle one holds about 100 MB)."""


def test_write_file_refuses_50_mb_and_says_the_limit(ws: Workspace) -> None:
    # When the model writes 50 MB, Then it is refused with the limit, and nothing is written
    with pytest.raises(ToolFailed, match=r"content is 50 MB, over the 1.0 MB limit"):
        call("write_file", ws, path="big.txt", content="a" * 50_000_000)
    assert not (ws.root / "big.txt").exists()
    # and an edit that would insert as much is refused too, leaving the file as it was
    before = (ws.root / "README.md").read_text()
    with pytest.raises(ToolFailed, match=r"new_text is 2.0 MB, over the 1.0 MB limit"):
        call("edit_file", ws, path="README.md", old_text="# svc", new_text="b" * 2_000_000)
    assert (ws.root / "README.md").read_text() == before


def test_a_30_mb_file_is_not_delivered_and_memory_stays_bounded(
    runtime: LocalRuntime, sandbox_mode: str, repo: Path, tmp_path: Path
) -> None:
    # Given a model whose command leaves a 30 MB random file next to its fix, which opens a
    # pull request, is told why not, removes the file and opens it again
    make_blob = "head -c 30000000 /dev/urandom > blob.bin && ls -l blob.bin"
    fix = "printf 'def ident(x):\\n    return -x\\n' > app/util.py"
    turns = [
        [tool_use("run_command", command=f"{make_blob}; {fix}")],
        [tool_use("git_diff")],
        [tool_use("open_pull_request", title="Negate", body="Fixed.")],
        [tool_use("run_command", command="rm blob.bin")],
        [tool_use("open_pull_request", title="Negate", body="Fixed.")],
    ]
    investigation_id = start_scripted(repo, turns, tmp_path / "s.jsonl")
    # When it runs
    with peak_memory(investigation_id) as peak:
        runtime.watcher.wait(investigation_id, timeout_s=180)
    # Then the first open_pull_request was answered with the file to remove, and the loop
    # went on to the second, which delivered
    results = [
        e.event
        for e in log_of(investigation_id)
        if isinstance(e.event, ToolResult) and e.event.turn > 0  # the model's, not turn 0's
    ]
    diff_result, refused = results[1], results[2]
    assert "blob.bin is a 30 MB binary file" in diff_result.content
    assert refused.name == "open_pull_request" and refused.is_error
    assert "blob.bin is a 30 MB binary file" in refused.content
    assert "remove it or add it to .gitignore" in refused.content
    assert stores().investigations.get(investigation_id).status == "delivered"
    delivered = next(e.event for e in log_of(investigation_id) if isinstance(e.event, Delivered))
    assert "+    return -x" in delivered.diff
    assert "blob.bin" not in delivered.diff
    # and the pull request's branch has the fix without the file
    assert delivered.pull_request is not None
    tree = subprocess.run(
        ["git", "-C", str(repo), "ls-tree", "-r", "--name-only", delivered.pull_request.branch],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "blob.bin" not in tree and "app/util.py" in tree
    # and no snapshot carried it, and the sandbox's memory stayed bounded
    snapshot = SnapshotStore(stores().blobs).load(investigation_id)
    assert snapshot is not None and snapshot.omitted == []
    assert len(stores().blobs.get(snapshot_key(investigation_id))) < 100_000
    assert 0 < peak[0] < PEAK_MEMORY_BYTES, f"peak {peak[0] / 1e6:.0f} MB"
