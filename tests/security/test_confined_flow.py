"""The work a fix needs still works confined: edit, run the tests with pytest, git in a
command, diff, deliver (the demo's flow), in each isolation mode.

Where the sandbox's own interpreter is out of the separate uid's reach (on a machine whose
Python lives under root's home; the sandbox image installs it in /usr), the uid mode runs
the same flow with the system's ``python3 -m unittest`` instead of pytest."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from fixloop.domain import Delivered, ToolResult
from fixloop.sandbox.confinement import resolve_user
from tests.integration.scenario import log_of, run_scripted
from tests.runtime import LocalRuntime
from tests.support import tool_use

UID = resolve_user("65534:65534")


def _unreachable_for(uid: int, gid: int, path: str) -> str | None:
    """The first directory on the way to ``path`` that ``uid`` may not pass, if any."""
    for ancestor in [*reversed(Path(os.path.realpath(path)).parents)]:
        st = ancestor.stat()
        allowed = stat.S_IXUSR if st.st_uid == uid else stat.S_IXGRP if st.st_gid == gid else 1
        if not st.st_mode & allowed:
            return str(ancestor)
    return None


PYTEST = (
    "python -m pytest -q -p no:cacheprovider tests",
    "from app.handler import handle\n\ndef test_missing_user():\n    assert handle({}) is None\n",
    ("1 failed", "1 passed"),
)
UNITTEST = (
    "PYTHONPATH=. /usr/bin/python3 -B -m unittest discover -s tests",
    "import unittest\nfrom app.handler import handle\n\n"
    "class T(unittest.TestCase):\n    def test_missing_user(self):\n"
    "        self.assertIsNone(handle({}))\n",
    ("FAILED (errors=1)", "\nOK"),
)


def test_edit_test_and_deliver_confined(
    runtime: LocalRuntime, sandbox_mode: str, repo: Path, tmp_path: Path
) -> None:
    runner, test, (red, green) = PYTEST
    if sandbox_mode == "uid" and _unreachable_for(*UID, sys.executable):
        if not os.path.exists("/usr/bin/python3"):
            pytest.skip(f"no interpreter uid {UID[0]} can reach on this machine")
        runner, test, (red, green) = UNITTEST
    # Given a model that writes a failing test, runs it, fixes the code, runs it again,
    # commits with git in a command and delivers
    turns = [
        [tool_use("write_file", path="tests/test_handler.py", content=test)],
        [tool_use("run_command", command=runner)],
        [
            tool_use(
                "edit_file",
                path="app/handler.py",
                old_text="    return event['user']['id']",
                new_text="    return (event.get('user') or {}).get('id')",
            )
        ],
        [tool_use("run_command", command=runner)],
        [tool_use("run_command", command="git add -A && git commit -qm fix && git log --oneline")],
        [tool_use("git_diff")],
        [tool_use("open_pull_request", title="Handle events without a user", body="Fixed.")],
    ]
    # When it runs confined
    summary = run_scripted(runtime, repo, turns, tmp_path / "s.jsonl")
    inv_id = summary.investigation.investigation_id
    # Then the failing run and the passing run are in the log, git worked in the command,
    # and the fix was delivered
    results = [e.event for e in log_of(inv_id) if isinstance(e.event, ToolResult)]
    runs = [r.content for r in results if r.name == "run_command"]
    assert "exit code 1" in runs[0] and red in runs[0], runs[0]
    assert "exit code 0" in runs[1] and green in runs[1], runs[1]
    assert "exit code 0" in runs[2] and "fix" in runs[2]
    diff = next(r.content for r in results if r.name == "git_diff")
    assert "+    return (event.get('user') or {}).get('id')" in diff
    assert summary.investigation.status == "delivered"
    delivered = next(e.event for e in log_of(inv_id) if isinstance(e.event, Delivered))
    assert "tests/test_handler.py" in delivered.diff
