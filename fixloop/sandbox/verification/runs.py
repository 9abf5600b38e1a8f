"""Scratch trees and the test runs in them.

A verification never runs anything in the workspace itself: it clones the workspace's
repository (fixloop's own git, :mod:`fixloop.sandbox.git`) into a scratch folder beside it,
once at the base commit and once with the change applied, and runs the tests there confined
exactly like ``run_command`` (:func:`fixloop.sandbox.confinement.run_confined`: the
repository's tests are untrusted code). The scratch folder goes when the verification ends.
"""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fixloop.domain.verification import MAX_RUN_OUTPUT_CHARS, RunKind, TestRun
from fixloop.sandbox.confinement.command import command_env, run_confined
from fixloop.sandbox.verification.detect import TestCommand
from fixloop.sandbox.verification.outcomes import Outcome, read_outcome
from fixloop.sandbox.workspace import FileChange, Snapshot, Workspace

__all__ = ["Scratch", "TestTree", "apply_files", "run_tests", "scratch"]

KEEP_OUTPUT_CHARS = 500_000
"""Output held while a run goes (its head and tail): summaries are at the end."""
REPORTS_PLACEHOLDER = "$REPORTS"


@dataclass(frozen=True)
class TestTree:
    """A scratch clone to run tests in, with a home (and a reports folder) of its own."""

    __test__ = False

    workspace: Workspace
    home: Path

    @property
    def root(self) -> Path:
        return self.workspace.root

    @property
    def reports(self) -> Path:
        return self.home / "reports"


@dataclass(frozen=True)
class Scratch:
    """The scratch folder of one verification."""

    path: Path
    source: Workspace

    def base(self) -> TestTree:
        """A clone of the workspace's repository at the base commit."""
        ws = Workspace.create(self.path / "base", self.source.root, self.source.base_commit)
        return TestTree(ws, self._home("base-home"))

    def fix(self, snapshot: Snapshot) -> TestTree:
        """A clone at the base commit with the change applied, as it would be delivered."""
        ws = Workspace.restore(self.path / "fix", self.source.root, snapshot)
        return TestTree(ws, self._home("fix-home"))

    def _home(self, name: str) -> Path:
        home = self.path / name
        (home / "tmp").mkdir(parents=True)
        return home


@contextmanager
def scratch(source: Workspace) -> Iterator[Scratch]:
    """A scratch folder beside the workspace (never inside it: it would join the change),
    removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix=".verify-", dir=source.root.parent))
    try:
        yield Scratch(path, source)
    finally:
        shutil.rmtree(path, ignore_errors=True)


def apply_files(tree: TestTree, changes: list[FileChange]) -> None:
    """Write the change's version of ``changes`` into the tree (or remove them)."""
    for change in changes:
        target = tree.workspace.resolve(change.path)  # inside the tree, never .git
        if change.content_b64 is None:
            if target.is_symlink() or target.is_file():
                target.unlink()
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.is_file():
            target.unlink()
        data = base64.b64decode(change.content_b64)
        if change.mode == "120000":
            os.symlink(data.decode("utf-8", "surrogateescape"), target)
            continue
        target.write_bytes(data)
        target.chmod(0o755 if change.mode == "100755" else 0o644)


def run_tests(
    kind: RunKind, command: str, tree: TestTree, test_command: TestCommand, timeout_s: float
) -> tuple[TestRun, Outcome]:
    """Run ``command`` in ``tree`` confined, and read what it says."""
    _clear_reports(tree, test_command)
    env = {
        **command_env(tree.home),
        "CI": "true",
        "NO_COLOR": "1",
        "npm_config_update_notifier": "false",
        "npm_config_fund": "false",
    }
    started = time.monotonic()
    run = run_confined(
        command, tree.root, tree.home, timeout_s=timeout_s, keep=KEEP_OUTPUT_CHARS, env=env
    )
    outcome = read_outcome(run.exit_code, run.output, _reports(tree, test_command))
    shown = command.replace(str(tree.reports), REPORTS_PLACEHOLDER)
    return (
        TestRun(
            kind=kind,
            command=shown[:2_000],
            exit_code=run.exit_code,
            timed_out=run.timed_out,
            counts=outcome.counts,
            failing_tests=outcome.failing[:50],
            exceptions=outcome.exceptions,
            load_failure=outcome.load_failure,
            no_tests=outcome.no_tests,
            output=_tail(run.output, MAX_RUN_OUTPUT_CHARS),
            duration_ms=int((time.monotonic() - started) * 1000),
        ),
        outcome,
    )


def _clear_reports(tree: TestTree, test_command: TestCommand) -> None:
    shutil.rmtree(tree.reports, ignore_errors=True)
    tree.reports.mkdir(parents=True)
    for path in _reports(tree, test_command):
        path.unlink(missing_ok=True)


def _reports(tree: TestTree, test_command: TestCommand) -> list[Path]:
    found = list(tree.reports.glob("*.xml"))
    for pattern in test_command.report_globs():
        found += [p for p in tree.root.glob(pattern) if p not in found]
    return found


def _tail(text: str, chars: int) -> str:
    if len(text) <= chars:
        return text
    cut = text[-chars:]
    return f"[... {len(text) - chars} characters before ...]\n" + cut[cut.find("\n") + 1 :]
