"""Grading a run: the scenario's ``verify`` command on the delivered branch.

The branch the local code host delivered (``fixloop/<investigation id>``) is cloned into a
fresh folder (a clone, not ``git worktree``: its ``.git`` is inside it, so the command can
be confined to that one folder) and checked out with fixloop's own git (nothing the agent
wrote into ``.gitattributes`` runs). The command then runs there with bash, confined exactly
like the agent's own commands (:mod:`fixloop.sandbox.confinement`, ``FIXLOOP_SANDBOX_
ISOLATION``): an unprivileged user, no network, no credentials, the checkout and its home
writable, nothing else of this machine reachable but the system and the interpreter. It
sees a copy of the scenario's folder in ``SCENARIO_DIR`` (beside a copy of what its suite
shares, e.g. ``evals/lib``: :attr:`Scenario.shared`), which also comes first on
``PATH`` (so ``bash verify.sh`` finds the scenario's script: bash looks for a script in the
working directory, then on ``PATH``). It has a time limit (the scenario's
``verify_timeout``); its output is kept bounded. Exit 0 means resolved.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from fixloop.cli.eval.repos import LEFT_OUT
from fixloop.cli.eval.scenario import Scenario
from fixloop.errors import FixloopError
from fixloop.sandbox.confinement import confinement
from fixloop.sandbox.git import Git, clone, last_line
from fixloop.sandbox.tools.commands import command_env

__all__ = ["Grade", "grade"]

CLONE_TIMEOUT_S = 300
OUTPUT_HEAD = 4_000
OUTPUT_TAIL = 12_000
"""Characters of the verify command's output kept: its start and its end."""


@dataclass(frozen=True)
class Grade:
    resolved: bool
    reason: str
    exit_code: int | None = None
    output: str = ""
    seconds: float = 0.0
    error: bool = False
    """The grading itself could not run (not a verdict on the fix)."""


def grade(scenario: Scenario, repo: Path, branch: str, place: Path) -> Grade:
    """Run ``scenario``'s verify command on ``branch`` of ``repo``, in ``place`` (made here)."""
    git = Git(repo, workspace=False)
    found = git.run(["rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}"])
    if found.returncode != 0:
        return Grade(False, f"no branch {branch} in the repository")
    head = found.stdout.decode().strip()
    checkout, home = place / "checkout", place / "home"
    place.mkdir(parents=True)
    try:
        proc = clone(str(repo), checkout, {}, CLONE_TIMEOUT_S)
        if proc.returncode != 0:
            raise FixloopError(f"cannot clone the repository: {last_line(proc.stderr)}")
        Git(checkout).ok(["checkout", "-q", "--detach", head])
        (home / "tmp").mkdir(parents=True)
        copy = _copy_scenario(scenario, home / "suite")
    except (FixloopError, OSError) as exc:
        return Grade(False, f"could not check out {branch}: {exc}", error=True)
    env = command_env(home)
    env["SCENARIO_DIR"] = str(copy)
    env["PATH"] = os.pathsep.join([str(copy), env["PATH"]])
    return _run(scenario.spec.verify, checkout, home, env, scenario.spec.verify_timeout)


def _copy_scenario(scenario: Scenario, suite: Path) -> Path:
    """The scenario's folder in ``suite``, beside what its suite shares (``$SCENARIO_DIR/../lib``
    works as it does on disk); the copy in ``SCENARIO_DIR``."""
    copy = suite / scenario.folder.name
    shutil.copytree(scenario.folder, copy, symlinks=True, ignore=LEFT_OUT)
    for entry in scenario.shared:
        if entry.is_dir():
            shutil.copytree(entry, suite / entry.name, symlinks=True, ignore=LEFT_OUT)
        elif entry.is_file():
            shutil.copy2(entry, suite / entry.name)
    return copy


def _run(command: str, root: Path, home: Path, env: dict[str, str], timeout_s: float) -> Grade:
    started = time.monotonic()
    try:
        with confinement().running(["bash", "-c", command], root, home, env) as proc:
            assert proc.stdout is not None
            output = _Output()
            reader = threading.Thread(target=output.read, args=(proc.stdout,), daemon=True)
            reader.start()
            code: int | None = None
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = proc.wait(timeout=timeout_s)
    except FixloopError as exc:  # no way to confine it here (ToolFailed says why)
        return Grade(False, f"the verify command could not run: {exc}", error=True)
    reader.join(timeout=5)
    seconds = round(time.monotonic() - started, 3)
    text = output.text()
    if code is None:
        return Grade(False, f"verify timed out after {timeout_s:.0f} s", None, text, seconds)
    if code == 0:
        return Grade(True, "verify passed", 0, text, seconds)
    return Grade(False, f"verify failed (exit code {code})", code, text, seconds)


class _Output:
    """A command's output, at most the first :data:`OUTPUT_HEAD` and the last
    :data:`OUTPUT_TAIL` characters of it."""

    def __init__(self) -> None:
        self.head = ""
        self.tail = ""
        self.total = 0

    def read(self, stream: IO[bytes]) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        while chunk := stream.read(65536):
            self._add(decoder.decode(chunk))
        self._add(decoder.decode(b"", final=True))

    def _add(self, text: str) -> None:
        self.total += len(text)
        room = OUTPUT_HEAD - len(self.head)
        if room > 0:
            self.head += text[:room]
            text = text[room:]
        self.tail = (self.tail + text)[-OUTPUT_TAIL:]

    def text(self) -> str:
        cut = self.total - len(self.head) - len(self.tail)
        if cut <= 0:
            return self.head + self.tail
        return f"{self.head}\n[... {cut} characters cut ...]\n{self.tail}"
