"""Attack 2: a command reaches what it should not: other processes' secrets in
``/proc/<pid>/environ``, services on the host's loopback, files outside the workspace; or
leaves a process behind that outlives it. Attack 5: a command that forks or writes without
bound. In both isolation modes (bubblewrap namespaces, a separate uid), through the embedded
runtime's sandbox where the sandbox server itself is the target, else through the tool.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from fixloop.config import get_settings
from fixloop.domain import ToolResult
from fixloop.errors import ToolFailed
from fixloop.sandbox import Workspace
from fixloop.sandbox.confinement import IsolationRefused, bwrap, choose
from tests.integration.scenario import log_of, run_scripted
from tests.runtime import LocalRuntime
from tests.security.calls import call, processes_with
from tests.security.conftest import CANARY, require
from tests.support import tool_use

OTHER_CANARY = "fixloop-canary-other-51c0"


@pytest.fixture
def victim() -> Iterator[subprocess.Popen[bytes]]:
    """Another process of this machine with a secret in its environment."""
    proc = subprocess.Popen(
        ["sleep", "300"], env={"PATH": "/usr/bin:/bin", "VICTIM_SECRET": OTHER_CANARY}
    )
    yield proc
    proc.kill()
    proc.wait()


def _results(investigation_id: str) -> list[ToolResult]:
    """The model's tool results (not the overview fixloop gathers before turn 1)."""
    return [
        e.event
        for e in log_of(investigation_id)
        if isinstance(e.event, ToolResult) and e.event.turn > 0
    ]


def test_other_processes_environments_are_out_of_reach(
    runtime: LocalRuntime,
    sandbox_mode: str,
    repo: Path,
    tmp_path: Path,
    victim: subprocess.Popen[bytes],
) -> None:
    # Given a sandbox server with a secret in its environment (its parent is the test
    # process), and another process with one
    dump = (
        "cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | grep -a canary; "
        f"cat /proc/$PPID/environ /proc/{victim.pid}/environ /proc/{os.getpid()}/environ; "
        "ls /proc | grep -c '^[0-9]'; env"
    )
    turns = [[tool_use("run_command", command=dump)], [tool_use("finish", summary="done")]]
    # When a command reads every environment it can find
    summary = run_scripted(runtime, repo, turns, tmp_path / "s.jsonl")
    (result,) = _results(summary.investigation.investigation_id)
    # Then it ran, and saw neither secret
    assert "exit code" in result.content
    assert CANARY not in result.content
    assert OTHER_CANARY not in result.content


def test_loopback_services_are_unreachable_with_bubblewrap(
    runtime: LocalRuntime, repo: Path, tmp_path: Path
) -> None:
    # uid isolation shares the host's network namespace: there the boundary is that a
    # command holds no credential (docs/security.md), so this attack applies to bwrap only
    require("bwrap")
    runtime.configure(sandbox_isolation="bwrap")
    # Given a service on the host's loopback, and the embedded runtime's AWS endpoint
    service = socket.create_server(("127.0.0.1", 0))
    service.settimeout(0.2)
    port = service.getsockname()[1]
    aws_port = urlparse(runtime.endpoint_url).port
    probe = (
        f"for p in {port} {aws_port}; do "
        "(exec 3<>/dev/tcp/127.0.0.1/$p && echo CONNECTED $p) 2>/dev/null || echo REFUSED $p; "
        "done"
    )
    turns = [[tool_use("run_command", command=probe)], [tool_use("finish", summary="done")]]
    try:
        # When a command tries to connect to both
        summary = run_scripted(runtime, repo, turns, tmp_path / "s.jsonl")
        (result,) = _results(summary.investigation.investigation_id)
        # Then neither answered, and the service saw no connection
        assert f"REFUSED {port}" in result.content
        assert f"REFUSED {aws_port}" in result.content
        assert "\nCONNECTED" not in result.content
        with pytest.raises(TimeoutError):
            service.accept()
    finally:
        service.close()
        runtime.configure(sandbox_isolation=None)


def test_files_outside_the_workspace_are_out_of_reach(
    mode: str, ws: Workspace, reachable: Path
) -> None:
    # Given a secret only root may read, a world-readable file, and another workspace, all
    # outside this workspace
    private = reachable / "private.txt"
    private.write_text(CANARY)
    private.chmod(0o600)
    public = reachable / "public.txt"
    public.write_text(OTHER_CANARY)
    command = (
        f"cat {private}; cat {public}; touch {reachable}/escaped; cat /etc/shadow; "
        "echo ok > inside.txt"
    )
    # When a command reads and writes around it
    out = call("run_command", ws, command=command)
    # Then it wrote only in the workspace and read no secret
    assert (ws.root / "inside.txt").read_text() == "ok\n"
    assert not (reachable / "escaped").exists()
    assert CANARY not in out
    assert "root:" not in out
    if mode == "bwrap":
        # and, in its own mount namespace, nothing outside was there to see at all
        assert OTHER_CANARY not in out


def _marked(seconds: int) -> str:
    """A sleep duration no other process of this machine has (leftovers of other runs)."""
    return f"{seconds}.{random.randrange(10**6):06d}"


def test_nothing_outlives_a_command(mode: str, ws: Workspace) -> None:
    # Given a command that leaves a process in a session of its own and a double-forked
    # daemon behind
    alone, daemon = _marked(31337), _marked(31338)
    command = (
        f"setsid sleep {alone} > /dev/null 2>&1 & "
        f"(setsid sh -c 'sleep {daemon} & ' > /dev/null 2>&1 &); "
        "sleep 0.3; echo started"
    )
    # When it runs, Then it returns at once
    started = time.monotonic()
    out = call("run_command", ws, command=command)
    assert "started" in out
    assert time.monotonic() - started < 10
    # and neither process survives it
    assert processes_with(f"sleep {alone}") == []
    assert processes_with(f"sleep {daemon}") == []


def test_nothing_outlives_a_command_that_times_out(mode: str, ws: Workspace) -> None:
    # Given a command that leaves a process in its own session, then blocks
    alone, blocking = _marked(31339), _marked(30)
    command = f"setsid sleep {alone} > /dev/null 2>&1 & sleep {blocking}"
    # When it times out
    with pytest.raises(ToolFailed, match="timed out after 1s"):
        call("run_command", ws, command=command, timeout_s=1)
    # Then nothing of it is left
    assert processes_with(f"sleep {alone}") == []
    assert processes_with(f"sleep {blocking}") == []


def test_processes_and_file_sizes_are_bounded(
    mode: str, ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given limits of 64 processes and 2 MB per file
    sleeper = _marked(30)
    monkeypatch.setenv("FIXLOOP_SANDBOX_MAX_PROCESSES", "64")
    monkeypatch.setenv("FIXLOOP_SANDBOX_MAX_FILE_BYTES", "2000000")
    get_settings.cache_clear()
    try:
        # When a command forks 300 sleepers (sh stops at the first fork that fails)
        forks = call(
            "run_command",
            ws,
            command=f"sh -c 'for i in $(seq 300); do sleep {sleeper} & done; echo all started'",
        )
        # and another writes a 3 MB file
        writes = call("run_command", ws, command="head -c 3000000 /dev/zero > big.bin; echo rc=$?")
    finally:
        get_settings.cache_clear()
    # Then the forks were refused past the limit, and none is left
    assert "\nall started" not in forks
    assert "Cannot fork" in forks
    assert processes_with(sleeper) == []
    # and the file stopped at the limit
    assert "rc=153" in writes  # 128 + SIGXFSZ
    assert (ws.root / "big.bin").stat().st_size == 2_000_000


def test_commands_are_refused_when_they_cannot_be_confined(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given bubblewrap asked for but missing
    monkeypatch.setenv("FIXLOOP_SANDBOX_ISOLATION", "bwrap")
    monkeypatch.setenv("FIXLOOP_SANDBOX_BWRAP", "/nonexistent/bwrap")
    get_settings.cache_clear()
    try:
        # When a command is run, Then it is refused with why and how to fix it, and not run
        with pytest.raises(ToolFailed) as refused:
            call("run_command", ws, command="touch ran.txt")
    finally:
        get_settings.cache_clear()
    message = str(refused.value)
    assert "bubblewrap is not installed" in message
    assert "apt-get install bubblewrap" in message
    assert "FIXLOOP_SANDBOX_ISOLATION=off" in message
    assert not (ws.root / "ran.txt").exists()


@pytest.mark.parametrize(
    ("isolation", "bwrap", "uid", "chosen"),
    [
        ("auto", None, None, "bwrap"),
        ("auto", "no bwrap", None, "uid"),
        ("auto", "no bwrap", "not root", "refused"),
        ("bwrap", "no bwrap", None, "refused"),
        ("uid", None, "not root", "refused"),
        ("uid", None, None, "uid"),
        ("off", "no bwrap", "not root", "off"),
    ],
)
def test_the_isolation_setting_takes_a_working_mechanism_or_refuses(
    isolation: str, bwrap: str | None, uid: str | None, chosen: str
) -> None:
    # Given what stands in each mechanism's way, When the setting is resolved
    result = choose(isolation, bwrap, uid)
    # Then auto takes the first that works, an explicit one only itself, and none means no
    if chosen == "refused":
        assert isinstance(result, IsolationRefused)
        assert all(p in result.reason for p in (bwrap, uid) if p and isolation in ("auto",))
        assert "FIXLOOP_SANDBOX_ISOLATION=off" in str(result.error())
    else:
        assert result == chosen


def test_an_interpreter_under_tmp_stays_reachable(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given bubblewrap (which gives a command a /tmp of its own) and the sandbox's interpreter
    # installed under /tmp (a checkout there with its virtual environment)
    require("bwrap")
    monkeypatch.setenv("FIXLOOP_SANDBOX_ISOLATION", "bwrap")
    get_settings.cache_clear()

    prefix = Path(tempfile.mkdtemp(prefix="fixloop-interpreter-", dir="/tmp"))
    try:
        tool = prefix / "bin" / "tool"
        tool.parent.mkdir()
        tool.write_text("#!/bin/sh\necho the interpreter is here\n")
        tool.chmod(0o755)
        prefix.chmod(0o755)
        monkeypatch.setattr(bwrap, "_interpreter_dirs", lambda: (str(prefix),))
        # When a command runs it
        out = call("run_command", ws, command=f"{tool}")
        # Then it ran: the interpreter's directory is bound over the command's /tmp
        assert "the interpreter is here" in out, out
    finally:
        shutil.rmtree(prefix, ignore_errors=True)
        get_settings.cache_clear()
