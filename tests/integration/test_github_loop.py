"""Delivery to GitHub from the state machine: refusals end as `blocked` with the reason."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fixloop.store import stores
from tests.fakes.github import GitHubServer
from tests.integration.scenario import start_scripted
from tests.runtime import LocalRuntime
from tests.support import tool_use


@pytest.fixture
def github(
    runtime: LocalRuntime, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[GitHubServer]:
    with GitHubServer(repo) as server:
        monkeypatch.setenv("GITHUB_TOKEN", next(iter(server.tokens)))
        runtime.configure(github_api_url=server.base_url, github_seconds_between_writes="0")
        yield server
        runtime.configure(github_api_url=None, github_seconds_between_writes=None)


def _investigate(runtime: LocalRuntime, repo: Path, tmp_path: Path, github_repo: str) -> str:
    turns = [
        [tool_use("write_file", path="fix.txt", content="fixed\n")],
        [tool_use("open_pull_request", title="Fix", body="Root cause: none.")],
    ]
    investigation_id = start_scripted(repo, turns, tmp_path / "s.jsonl", github_repo=github_repo)
    runtime.watcher.wait(investigation_id, timeout_s=60)
    return investigation_id


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        ("expired token", "GitHub rejected the credentials"),
        ("unknown repository", "does not exist or these credentials cannot see it"),
        ("protected branch", "fixloop/"),
    ],
)
def test_refusals_block_the_investigation_with_the_reason(
    runtime: LocalRuntime,
    repo: Path,
    tmp_path: Path,
    github: GitHubServer,
    breakage: str,
    message: str,
) -> None:
    # Given a GitHub that will refuse the delivery
    target = github.full_name
    if breakage == "expired token":
        github.tokens.clear()
    elif breakage == "unknown repository":
        target = "acme/nowhere"
    else:
        github.protect("fixloop/*")
    # When an investigation delivers to it
    investigation_id = _investigate(runtime, repo, tmp_path, target)
    # Then it ends blocked, saying what to fix, with nothing opened
    inv = stores().investigations.get(investigation_id)
    assert inv.status == "blocked"
    assert inv.outcome.startswith("delivery blocked: ")
    assert message in inv.outcome
    assert github.pulls == []


def test_a_moved_base_branch_still_delivers_and_says_so(
    runtime: LocalRuntime, repo: Path, tmp_path: Path, github: GitHubServer
) -> None:
    github.advance(github.default_branch, {"other.txt": "someone else's change\n"})
    investigation_id = _investigate(runtime, repo, tmp_path, github.full_name)
    assert stores().investigations.get(investigation_id).status == "delivered"
    (pull,) = github.pulls
    assert "has moved since" in pull.body
