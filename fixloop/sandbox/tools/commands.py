"""Running a command in the workspace: confined, time-limited, output-capped, nothing left
behind. How it is confined (who it runs as, what it can reach) is
:mod:`fixloop.sandbox.confinement`'s."""

from __future__ import annotations

import codecs
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

from pydantic import BaseModel, Field

from fixloop.errors import ToolFailed
from fixloop.sandbox.confinement import confinement
from fixloop.sandbox.tools.context import workspace_of
from fixloop.tools.registry import Tool, ToolContext, cap_output

__all__ = ["RUN_COMMAND", "command_env"]

DEFAULT_TIMEOUT_S = 120

MAX_TIMEOUT_S = 1_800

OUTPUT_GRACE_S = 2.0
"""After a command ends, how long to wait for the rest of its output."""


class RunCommandInput(BaseModel):
    command: str = Field(
        min_length=1,
        description="A bash command, run from the repository root, e.g. "
        '"python -m pytest -x -q tests/test_pricing.py".',
    )
    timeout_s: int = Field(
        default=DEFAULT_TIMEOUT_S,
        ge=1,
        le=MAX_TIMEOUT_S,
        description="Seconds before the command and every process it started are killed.",
    )


def run_command(ctx: ToolContext, args: RunCommandInput) -> str:
    ws = workspace_of(ctx, "run_command")
    confined = confinement()  # a tool error when commands cannot be confined here
    output = _Output(keep=max(4 * ctx.max_output_chars, 1_000_000))
    timed_out = False
    # Nothing outlives the command: not on a timeout, not a background process it left.
    with confined.running(
        ["bash", "-c", args.command], ws.root, ws.home, command_env(ws.home)
    ) as proc:
        assert proc.stdout is not None
        reader = threading.Thread(target=output.drain, args=(proc.stdout,), daemon=True)
        reader.start()
        try:
            proc.wait(timeout=args.timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
    reader.join(timeout=OUTPUT_GRACE_S)
    if not reader.is_alive():
        proc.stdout.close()
    text, total, dropped = output.result()
    note = f" ({total} characters of output; the middle was not kept)" if dropped else ""
    if timed_out:
        raise ToolFailed(
            cap_output(
                f"timed out after {args.timeout_s}s; the command and every process it started "
                f"were killed{note}. Output so far:\n{text}",
                ctx.max_output_chars,
            )
        )
    return cap_output(
        f"$ {args.command}\nexit code {proc.returncode}{note}\n{text}", ctx.max_output_chars
    )


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


RUN_COMMAND = Tool(
    "run_command",
    "Run a bash command from the repository root, e.g. the test suite; returns its exit "
    "code and its output (stdout and stderr together, long output cut in the middle). "
    "Each call is a fresh shell as an unprivileged user with a minimal environment, no "
    "cloud credentials and usually no network; only the workspace is writable (and /tmp); "
    "processes it starts in the background are killed when it ends. A non-zero exit code "
    "is a normal result.",
    RunCommandInput,
    run_command,
    runs_in="sandbox",
    mutating=True,
)


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
