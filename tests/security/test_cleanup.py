"""Nothing outlives the CLI: SIGTERM or Ctrl-C stops its sandboxes, the commands they run
(a process that left its session included), and removes their workspaces."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.support import (
    FIXLOOP_CLI,
    ROOT,
    logs_message,
    make_repo,
    processes_with,
    tool_use,
    user_env,
    write_script,
)

MARKER = "31337"


def _cli(tmp: Path, repo: Path) -> subprocess.Popen[str]:
    signal_file = tmp / "signal.json"
    signal_file.write_text(json.dumps(logs_message(["[ERROR] KeyError: 'id'"])))
    script = write_script(
        tmp / "s.jsonl",
        [
            [tool_use("run_command", command=f"setsid sleep {MARKER}0 & sleep {MARKER}1")],
            [tool_use("finish", summary="never reached")],
        ],
    )
    env = {**user_env(tmp / "home"), "TMPDIR": str(tmp / "tmp")}
    (tmp / "tmp").mkdir()
    return subprocess.Popen(
        [
            *FIXLOOP_CLI,
            "investigate",
            "--repo",
            str(repo),
            "--signal",
            str(signal_file),
            "--model",
            f"scripted:{script}",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT])
def test_stopping_the_cli_stops_its_sandboxes_commands_and_workspaces(
    tmp_path: Path, how: signal.Signals
) -> None:
    repo = make_repo(tmp_path / "svc", {"app/handler.py": "x = 1\n"})
    # Given `fixloop investigate` whose sandbox runs a command that also left its session
    cli = _cli(tmp_path, repo)
    try:
        deadline = time.monotonic() + 120
        while not processes_with(f"sleep {MARKER}0") and time.monotonic() < deadline:
            assert cli.poll() is None, cli.stderr.read() if cli.stderr else ""
            time.sleep(0.1)
        assert processes_with(f"sleep {MARKER}0"), "the command never started"
        sandbox_dirs = list((tmp_path / "tmp").glob("fixloop-sandbox-*"))
        assert sandbox_dirs, "the sandbox's workspace was not where TMPDIR says"
        # When the CLI is told to stop
        cli.send_signal(how)
        _, err = cli.communicate(timeout=60)
    finally:
        if cli.poll() is None:
            cli.kill()
    # Then it said so and exited, and nothing it started is left: no sandbox, no command,
    # no workspace
    assert cli.returncode in (130, 143), err
    assert "Traceback" not in err
    assert processes_with(f"sleep {MARKER}") == []
    assert _sandboxes_under(tmp_path / "tmp") == []
    assert list((tmp_path / "tmp").glob("fixloop-sandbox-*")) == []
    assert list((tmp_path / "tmp").glob("fixloop-sandboxes-*")) == []


def _sandboxes_under(tmpdir: Path) -> list[int]:
    """Sandbox server processes started with this TMPDIR (other tests run their own)."""
    mine = f"TMPDIR={tmpdir}".encode()
    found = []
    for pid in processes_with("fixloop.sandbox"):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if mine in environ:
            found.append(pid)
    return found
