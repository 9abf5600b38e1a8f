"""The local git code host, and delivery through the loop on the embedded runtime."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fixloop.delivery.local import LocalGitCodeHost
from fixloop.delivery.protocol import DeliveryError, PullRequestDraft
from fixloop.sandbox.workspace import Workspace
from tests.integration.scenario import log_of, run_scripted
from tests.runtime import LocalRuntime
from tests.support import head, tool_use


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def _draft(repo: Path, tmp_path: Path, content: str, name: str = "ws") -> PullRequestDraft:
    ws = Workspace.create(tmp_path / name, str(repo), head(repo))
    (ws.root / "app/util.py").write_text(content)
    snap = ws.snapshot()
    return PullRequestDraft(
        investigation_id="inv-1",
        base_commit=snap.base_commit,
        branch="fixloop/inv-1",
        title="Fix util",
        body="Because.",
        commit_message="Fix util",
        patch=snap.patch,
        files=snap.files,
        authored_at=datetime(2026, 11, 26, 12, 0, tzinfo=UTC),
    )


def test_delivering_twice_makes_one_commit_and_one_pull_request(repo: Path, tmp_path: Path) -> None:
    # Given a change to deliver, and the user's own uncommitted work in the repository
    (repo / "README.md").write_text("work in progress\n")
    base = head(repo)
    draft = _draft(repo, tmp_path, "def ident(x):\n    return x  # fixed\n")
    host = LocalGitCodeHost(repo)
    # When it is delivered, then delivered again (a retried Deliver)
    first = host.deliver(draft)
    again = host.deliver(draft)
    # Then the branch has one commit on the base with the change, and one pull request
    assert first.created and not again.created
    assert first.head_sha == again.head_sha
    assert _git(repo, "rev-list", "--count", f"{base}..{draft.branch}") == "1"
    assert "# fixed" in _git(repo, "show", f"{draft.branch}:app/util.py")
    assert [pr.number for pr in host.pulls()] == [1]
    assert first.url == f"file://{repo.resolve()}#fixloop/inv-1"
    # and the user's branch, index and working tree are untouched
    assert head(repo) == base
    assert _git(repo, "status", "--porcelain") == "M README.md"


def test_a_second_change_adds_one_commit_to_the_same_pull_request(
    repo: Path, tmp_path: Path
) -> None:
    host = LocalGitCodeHost(repo)
    base = head(repo)
    host.deliver(_draft(repo, tmp_path, "v1\n", "ws1"))
    second = host.deliver(_draft(repo, tmp_path, "v2\n", "ws2"))
    assert second.number == 1 and not second.created
    assert _git(repo, "rev-list", "--count", f"{base}..fixloop/inv-1") == "2"
    assert _git(repo, "show", "fixloop/inv-1:app/util.py") == "v2"


def test_a_base_commit_missing_from_the_repository_is_a_clear_refusal(
    repo: Path, tmp_path: Path
) -> None:
    draft = _draft(repo, tmp_path, "x\n").model_copy(update={"base_commit": "0" * 40})
    with pytest.raises(DeliveryError, match=r"is not in .*history rewritten"):
        LocalGitCodeHost(repo).deliver(draft)


def test_the_loop_delivers_to_the_local_repository(
    runtime: LocalRuntime, repo: Path, tmp_path: Path
) -> None:
    # Given a model that changes a file and concludes with a pull request
    turns = [
        [tool_use("edit_file", path="app/util.py", old_text="return x", new_text="return x or 0")],
        [tool_use("run_command", command="python -c 'import app.util'")],
        [tool_use("open_pull_request", title="Default to 0", body="Root cause: none.")],
    ]
    # When it runs
    summary = run_scripted(runtime, repo, turns, tmp_path / "s.jsonl")
    # Then the pull request is a branch of the repository, recorded on the investigation
    pr = summary.investigation.pull_request
    assert summary.investigation.status == "delivered"
    assert pr is not None and pr.branch == f"fixloop/{summary.investigation.investigation_id}"
    assert "return x or 0" in _git(repo, "show", f"{pr.branch}:app/util.py")
    record = LocalGitCodeHost(repo).find(summary.investigation.investigation_id)
    assert record is not None
    assert record.title == "Default to 0"
    assert record.body.startswith("Root cause: none.")
    assert "### Evidence gathered by fixloop" in record.body
    # and fixloop's own verification replaces the guessed test runs: this repository has no
    # test command, so the fix is opened as a draft labelled unverified, saying why
    assert "### Verified by fixloop" in record.body
    assert "**Not verified.** The repository has no test command" in record.body
    assert record.draft is True
    assert "unverified" in record.labels


def test_a_pull_request_without_a_change_blocks_with_the_reason(
    runtime: LocalRuntime, repo: Path, tmp_path: Path
) -> None:
    turns = [[tool_use("open_pull_request", title="Nothing", body="No change made.")]]
    summary = run_scripted(runtime, repo, turns, tmp_path / "s.jsonl")
    assert summary.investigation.status == "blocked"
    assert "workspace has no change" in summary.investigation.outcome
    failed = [e.event for e in log_of(summary.investigation.investigation_id)]
    assert any(e.type == "failed" and "nothing to deliver" in e.cause for e in failed)
