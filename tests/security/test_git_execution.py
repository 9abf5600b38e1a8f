"""Attack 1: a command writes git configuration, hooks or attributes into the workspace so
that fixloop's OWN git (the snapshot's ``git add -A``, ``git_diff``, delivery) runs a program
with the sandbox server's environment, or reads a tree outside the workspace.

Each attack runs through the embedded runtime: the command in a confined sandbox, then
git_diff, the model's own git in a second command, and open_pull_request to the local code
host. Nothing may run outside the sandbox: no file appears where only fixloop's git could
write it, the server's canary secret is nowhere in the log or the pull request, and the
delivered change is just the model's edit.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from fixloop.domain import Delivered
from fixloop.store import stores
from tests.integration.scenario import log_of, run_scripted
from tests.runtime import LocalRuntime
from tests.security.conftest import CANARY
from tests.support import tool_use

HOOKS = ("post-index-change", "reference-transaction", "pre-commit", "post-checkout")

ATTACKS = {
    # fsmonitor runs whenever git refreshes the index: on fixloop's `git add -A`
    "fsmonitor": (
        "git config core.fsmonitor 'env > {leak}/fsmonitor; env > leak-fsmonitor.txt; false'"
    ),
    # a clean filter runs on every file staged; `required` would make staging fail without it
    "clean filter": (
        "git config filter.x.clean 'env > {leak}/clean; env > leak-clean.txt; cat' && "
        "git config filter.x.process 'sh -c \"env > {leak}/process\"' && "
        "git config filter.x.required true && echo '* filter=x' > .gitattributes"
    ),
    # hooks (in .git/hooks and a hooksPath), an external diff, a textconv driver, a pager
    "hooks, external diff, textconv, pager": (
        "mkdir -p .git/hooks my-hooks && for h in " + " ".join(HOOKS) + "; do "
        "printf '#!/bin/sh\\nenv > {leak}/hook-%s\\n' $h > .git/hooks/$h; "
        "cp .git/hooks/$h my-hooks/$h; chmod +x .git/hooks/$h my-hooks/$h; done; "
        'git config core.hooksPath "$PWD/my-hooks"; '
        "git config diff.external 'sh -c \"env > {leak}/external\"'; "
        "git config diff.t.textconv 'sh -c \"env > {leak}/textconv; cat $0\"'; "
        "git config diff.t.command 'sh -c \"env > {leak}/diffcommand\"'; "
        "git config core.pager 'sh -c \"env > {leak}/pager\"'; "
        "echo '* diff=t' > .gitattributes"
    ),
    # a worktree elsewhere: fixloop's `git add -A` would stage (and deliver) its files
    "worktree elsewhere": "git config core.worktree {outside}",
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_repository_controlled_git_settings_do_not_run_outside_the_sandbox(
    runtime: LocalRuntime, sandbox_mode: str, repo: Path, tmp_path: Path, attack: str
) -> None:
    # Given a sandbox server holding a secret, a folder only programs outside the sandbox
    # could write to, and a secret folder outside the workspace
    leak = tmp_path / "leak"
    leak.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(f"{CANARY}\n")
    setup = ATTACKS[attack].format(leak=leak, outside=outside)
    edit = "printf 'def ident(x):\\n    return -x\\n' > app/util.py"
    # And a model that sets the trap, then makes git run several ways, then delivers
    turns = [
        [tool_use("run_command", command=f"{setup}; {edit}")],
        [tool_use("git_diff")],
        [tool_use("run_command", command="git status --short; git diff | head -5; git add -A")],
        [tool_use("open_pull_request", title="Negate", body="Fixed.")],
    ]
    # When the investigation runs
    summary = run_scripted(runtime, repo, turns, tmp_path / "s.jsonl")
    inv_id = summary.investigation.investigation_id
    # Then it was delivered, and nothing ran outside the sandbox
    assert summary.investigation.status == "delivered", summary.investigation.outcome
    assert sorted(p.name for p in leak.iterdir()) == []
    # and the server's secret is nowhere: not in any event, not in the pull request
    log = "\n".join(e.event.model_dump_json() for e in log_of(inv_id))
    assert CANARY not in log
    delivered = next(e.event for e in log_of(inv_id) if isinstance(e.event, Delivered))
    branch = delivered.pull_request.branch if delivered.pull_request else ""
    shown = subprocess.run(
        ["git", "-C", str(repo), "log", "-p", f"refs/heads/{branch}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert CANARY not in shown
    # and the change delivered is the model's edit, from the workspace alone
    assert "+    return -x" in delivered.diff
    assert "secret.txt" not in delivered.diff
    assert stores().investigations.get(inv_id).status == "delivered"
