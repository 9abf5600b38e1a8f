"""What every way of running a command has in common: start it, bound it, end everything.

A mechanism (:class:`Confinement`) turns the command's argv into the argv that runs it
confined (:meth:`Confinement.wrap`), may prepare the workspace for it (ownership), and after
the command ends makes sure nothing it started is left (:meth:`Confinement.sweep`). The
command always gets its own session and process group, is killed as a group, and runs under
a pids cgroup when this machine lets the process make one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fixloop.errors import ToolFailed
from fixloop.sandbox.confinement.cgroup import PidsCgroup

__all__ = ["CommandLimits", "Confinement", "Unconfined", "kill_group"]


@dataclass(frozen=True)
class CommandLimits:
    max_processes: int
    max_file_bytes: int

    def prlimit(self) -> list[str]:
        """``prlimit`` in front of a command: processes, file size, no core files. Hard and
        soft limits alike, so the command cannot raise them again."""
        program = shutil.which("prlimit") or "prlimit"
        return [
            program,
            f"--nproc={self.max_processes}:{self.max_processes}",
            f"--fsize={self.max_file_bytes}:{self.max_file_bytes}",
            "--core=0:0",
            "--",
        ]


class Confinement:
    """A way to run commands. This base runs them unconfined (isolation ``off``)."""

    name = "off"
    uses_cgroup = False

    def __init__(self, limits: CommandLimits) -> None:
        self.limits = limits

    def describe(self) -> str:
        return "unconfined: commands run as the sandbox server's own user (isolation off)"

    def prepare(self, root: Path, home: Path) -> None:
        """Make the workspace usable by the command (nothing to do unconfined)."""

    def wrap(self, argv: list[str], root: Path, home: Path, env: dict[str, str]) -> list[str]:
        return argv

    def sweep(self) -> None:
        """After the command: end whatever it left running beyond its process group."""

    @contextlib.contextmanager
    def running(
        self, argv: list[str], root: Path, home: Path, env: dict[str, str]
    ) -> Iterator[subprocess.Popen[bytes]]:
        """Start the command (stdout and stderr on one pipe); when the block ends, the
        command and every process it started are killed."""
        self.prepare(root, home)
        cgroup = PidsCgroup.create(self.limits.max_processes) if self.uses_cgroup else None
        full = self.wrap(argv, root, home, env)
        if cgroup is not None:
            full = cgroup.joining(full)
        try:
            proc = subprocess.Popen(
                full,
                cwd=root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own session and process group
            )
        except OSError as exc:
            if cgroup is not None:
                cgroup.remove()
            raise ToolFailed(f"could not start the command: {exc}") from exc
        try:
            yield proc
        finally:
            kill_group(proc.pid)
            proc.wait()
            if cgroup is not None:
                cgroup.remove()
            self.sweep()


class Unconfined(Confinement):
    pass


def kill_group(pgid: int) -> None:
    # ESRCH: the group is gone; EPERM: only zombies are left in it.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
