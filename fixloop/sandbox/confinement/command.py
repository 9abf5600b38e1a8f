"""Run one shell command confined, with a time limit and bounded output: what
``run_command`` does for the model and what the verification of a fix does for fixloop
(both run the repository's code, so both run it the same way)."""

from __future__ import annotations

import codecs
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from fixloop.sandbox.confinement.choice import confinement

__all__ = ["CommandRun", "command_env", "run_confined"]

OUTPUT_GRACE_S = 2.0
"""After a command ends, how long to wait for the rest of its output."""


@dataclass(frozen=True)
class CommandRun:
    """What a confined command did."""

    exit_code: int | None
    """None when it timed out (it and every process it started were killed)."""
    output: str
    """stdout and stderr together; the middle is dropped past the ``keep`` asked for."""
    total_chars: int
    dropped_chars: int

    @property
    def timed_out(self) -> bool:
        return self.exit_code is None


def run_confined(
    command: str,
    root: Path,
    home: Path,
    *,
    timeout_s: float,
    keep: int,
    env: dict[str, str] | None = None,
) -> CommandRun:
    """``bash -c COMMAND`` in ``root``, confined (:func:`confinement`: a ToolFailed when
    commands cannot be confined here), killed with everything it started after
    ``timeout_s``; at most about 3 x ``keep`` characters of output are held."""
    confined = confinement()
    output = _Output(keep=keep)
    timed_out = False
    # Nothing outlives the command: not on a timeout, not a background process it left.
    with confined.running(
        ["bash", "-c", command], root, home, env if env is not None else command_env(home)
    ) as proc:
        assert proc.stdout is not None
        reader = threading.Thread(target=output.drain, args=(proc.stdout,), daemon=True)
        reader.start()
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
    reader.join(timeout=OUTPUT_GRACE_S)
    if not reader.is_alive():
        proc.stdout.close()
    text, total, dropped = output.result()
    return CommandRun(None if timed_out else proc.returncode, text, total, dropped)


def command_env(home: Path) -> dict[str, str]:
    """The whole environment of a command: nothing inherited but PATH.

    Credentials never reach a command: no AWS_*, FIXLOOP_* or ANTHROPIC_* variables, and
    without AWS_CONTAINER_CREDENTIALS_RELATIVE_URI nothing finds a Fargate task's role. The
    interpreter running the sandbox comes first on PATH, so ``python`` and ``pytest`` are its.
    """
    inherited = os.environ.get("PATH") or os.defpath
    return {
        "PATH": os.pathsep.join([os.path.dirname(sys.executable), inherited]),
        "HOME": str(home),
        "TMPDIR": str(home / "tmp"),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


class _Output:
    """A command's output as it arrives, holding at most about 3 x ``keep`` characters:
    the first ``keep`` and the latest ones; the total is counted."""

    def __init__(self, keep: int) -> None:
        self._keep = keep
        self._lock = threading.Lock()
        self._head: list[str] = []
        self._head_len = 0
        self._tail: list[str] = []
        self._tail_len = 0
        self._total = 0

    def drain(self, stream: IO[bytes]) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        read = getattr(stream, "read1", stream.read)
        try:
            while chunk := read(65_536):
                self._add(decoder.decode(chunk))
        except (OSError, ValueError):
            pass  # the pipe was closed under us
        self._add(decoder.decode(b"", final=True))

    def _add(self, text: str) -> None:
        if not text:
            return
        with self._lock:
            self._total += len(text)
            room = self._keep - self._head_len
            if room > 0:
                self._head.append(text[:room])
                self._head_len += len(self._head[-1])
                text = text[room:]
            if text:
                self._tail.append(text)
                self._tail_len += len(text)
                if self._tail_len > 2 * self._keep:
                    kept = "".join(self._tail)[-self._keep :]
                    self._tail, self._tail_len = [kept], len(kept)

    def result(self) -> tuple[str, int, int]:
        """The kept text, the total number of characters, and how many were dropped."""
        with self._lock:
            text = "".join(self._head) + "".join(self._tail)
            return text, self._total, self._total - len(text)
