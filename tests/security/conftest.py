"""Fixtures of the attack tests: the isolation mode under test, workspaces a separate uid can
reach, a canary secret in the environment of the processes that hold secrets."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixloop.config import get_settings
from fixloop.sandbox import Workspace
from fixloop.sandbox.confinement import probe_bwrap, probe_uid, resolve_user
from tests.integration.channels import Channels
from tests.runtime import LocalRuntime
from tests.security.inputs import waiting_investigation
from tests.support import head, make_repo

MODES = ["bwrap", "uid"]

CANARY = "fixloop-canary-7f3e2a"
"""A secret the sandbox server (and other processes) hold in their environment."""


def mode_problem(mode: str) -> str | None:
    """Why this machine cannot run commands in ``mode``; None when it can."""
    if mode == "bwrap":
        return probe_bwrap("bwrap")
    return probe_uid(*resolve_user("65534:65534"))


def require(mode: str) -> None:
    """Skip (with the reason) a mode this machine cannot run; under CI, fail: CI runs as root
    with bubblewrap installed by `make test`, so both modes must run there."""
    problem = mode_problem(mode)
    if problem is None:
        return
    reason = f"isolation {mode!r} cannot run on this machine: {problem}"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Tools called in this process confine commands with this mechanism."""
    chosen = str(request.param)
    require(chosen)
    monkeypatch.setenv("FIXLOOP_SANDBOX_ISOLATION", chosen)
    get_settings.cache_clear()
    yield chosen
    monkeypatch.delenv("FIXLOOP_SANDBOX_ISOLATION")
    get_settings.cache_clear()


@pytest.fixture(params=MODES)
def sandbox_mode(
    request: pytest.FixtureRequest, runtime: LocalRuntime, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """Sandboxes the embedded runtime starts from now on use this mechanism, and hold
    :data:`CANARY` in their environment."""
    chosen = str(request.param)
    require(chosen)
    # What a local sandbox gets of this process's environment (FIXLOOP_SANDBOX_*), as a
    # Fargate task gets its task definition's
    monkeypatch.setenv("FIXLOOP_SANDBOX_TEST_CANARY", CANARY)
    runtime.configure(sandbox_isolation=chosen)
    yield chosen
    runtime.configure(sandbox_isolation=None)


@pytest.fixture
def reachable(tmp_path: Path) -> Iterator[Path]:
    """A directory a separate uid can traverse (pytest's own tmp_path is root's, 0700)."""
    path = Path(tempfile.mkdtemp(prefix="fixloop-security-"))
    path.chmod(0o711)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def ws(reachable: Path) -> Workspace:
    src = make_repo(
        reachable / "src",
        {"app/util.py": "def ident(x):\n    return x\n", "README.md": "# svc\n"},
    )
    return Workspace.create(reachable / "ws", src, head(src))


@pytest.fixture
def inv_id(channels: Channels, repo: Path, tmp_path: Path) -> Iterator[str]:
    """An investigation waiting on a question, reachable through every channel."""
    with waiting_investigation(channels, repo, tmp_path / "s.jsonl") as investigation:
        yield investigation
