"""The CLI refuses bad input with one line and exit code 2, never a traceback: signal files
that are not UTF-8, nested too deep or too large (read within a bound before parsing), a
port already in use, and an investigation id that is not one (``fixloop show`` never reads
outside its records' folder)."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest

from tests.support import run_cli


def _run(home: Path, *args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, home=home, timeout=timeout)


def _one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("fixloop: error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b'{"detail-type": "CloudWatch Alarm State Change", "x": "\xff\xfe"}', "not UTF-8 text"),
        (b"[" * 200_000 + b"]" * 200_000, "nested more than 64 levels deep"),
        (b'{"a":' * 70 + b"1" + b"}" * 70, "nested more than 64 levels deep"),
    ],
    ids=["not-utf8", "recursion", "too-deep"],
)
def test_a_hostile_signal_file_is_one_line_and_exit_2(
    repo: Path, tmp_path: Path, content: bytes, needle: str
) -> None:
    signal = tmp_path / "signal.json"
    signal.write_bytes(content)
    commands: list[list[str | Path]] = [
        ["investigate", "--repo", repo, "--signal", signal, "--model", "anthropic"],
        ["trigger", signal, "--repo", repo],
    ]
    for command in commands:
        _one_line_error(_run(tmp_path, *command), "signal.json", needle)


def test_an_oversized_signal_file_is_refused_unread(repo: Path, tmp_path: Path) -> None:
    signal = tmp_path / "huge.json"
    with signal.open("wb") as handle:  # valid JSON, 11 MB: its size alone refuses it
        handle.write(b'{"logEvents": ["' + b"x" * (11 * 1024 * 1024) + b'"]}')
    proc = _run(tmp_path, "investigate", "--repo", repo, "--signal", signal, "--model", "anthropic")
    _one_line_error(proc, "huge.json is over 10,485,760 bytes")


def test_serve_on_a_busy_port_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = _run(tmp_path, "serve", "--port", str(port))
    _one_line_error(proc, f"cannot listen on 127.0.0.1:{port}", "in use")
    _one_line_error(_run(tmp_path, "serve", "--port", "70000"), "cannot listen on 127.0.0.1:70000")


def test_show_never_reads_outside_its_folder(tmp_path: Path) -> None:
    # Given a file an attacker would like printed, next to the records' folder
    (tmp_path / "investigations").mkdir()
    secret = {"summary": {"investigation_id": "x", "status": "secret"}, "investigation": {}}
    (tmp_path / "secret.json").write_text(json.dumps(secret))
    (tmp_path / "investigations" / "inv-20261122093000-1a2b3c4d.json").write_text("[1, 2]")
    # When show is asked for ids that are not investigation ids
    for bad in (
        "../secret",
        "../../x",
        "/etc/passwd",
        "inv-1",
        "",
        "inv-20261122093000-1a2b3c4d\n",
    ):
        proc = _run(tmp_path, "show", bad)
        # Then each is one line and exit 2, and nothing outside was read
        _one_line_error(proc, "is not an investigation id")
        assert "secret" not in proc.stdout
    # And a record that is not one is a one-line error too
    proc = _run(tmp_path, "show", "inv-20261122093000-1a2b3c4d")
    _one_line_error(proc, "is not a record of fixloop's")
    # While a well-formed id with no record is "not found" (exit 4), as before
    assert _run(tmp_path, "show", "inv-20261122093000-00000000").returncode == 4
