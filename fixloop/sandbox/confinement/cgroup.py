"""A pids cgroup per command, where this process may make one.

RLIMIT_NPROC does not bind a command whose processes are root outside their user namespace
(bubblewrap started by root maps the sandbox's uid to root; the kernel exempts root's own
user), so a command also runs in a cgroup of its own with ``pids.max`` set, when the pids
controller is mounted writable for this process (cgroup v1 ``/sys/fs/cgroup/pids`` or a v2
hierarchy whose parent delegates ``pids``). The command joins it before it starts
(``sh -c 'echo $$ > cgroup.procs; exec ...'``), so every process it starts is counted; when
it ends, whatever is left in the cgroup is killed and the cgroup removed. On Fargate the
cgroup file system is read-only and this is skipped: the separate uid's RLIMIT_NPROC binds
there.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from functools import lru_cache
from pathlib import Path

__all__ = ["PidsCgroup"]

CGROUP_ROOT = Path("/sys/fs/cgroup")
REMOVE_WAIT_S = 2.0


class PidsCgroup:
    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def create(cls, max_pids: int) -> PidsCgroup | None:
        """A new cgroup limited to ``max_pids``; None where none can be made here."""
        parent = _pids_parent()
        if parent is None:
            return None
        path = parent / f"fixloop-{uuid.uuid4().hex[:12]}"
        try:
            path.mkdir()
        except OSError:
            return None
        try:
            (path / "pids.max").write_text(str(max_pids))
        except OSError:
            with contextlib.suppress(OSError):
                path.rmdir()
            return None
        return cls(path)

    def joining(self, argv: list[str]) -> list[str]:
        """``argv`` run by a shell that first moves itself into this cgroup."""
        procs = str(self.path / "cgroup.procs")
        return ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', procs, *argv]

    def remove(self) -> None:
        """Kill what is left in the cgroup and remove it."""
        deadline = time.monotonic() + REMOVE_WAIT_S
        while True:
            for pid in self._pids():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                if time.monotonic() > deadline:
                    return  # an empty cgroup costs nothing; a later sweep may remove it
                time.sleep(0.01)

    def _pids(self) -> list[int]:
        try:
            text = (self.path / "cgroup.procs").read_text()
        except OSError:
            return []
        return [int(p) for p in text.split()]


@lru_cache(maxsize=1)
def _pids_parent() -> Path | None:
    """The pids cgroup directory this process is in, if it may make children there."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, where = line.split(":", 2)
        if "pids" in controllers.split(","):  # cgroup v1
            parent = CGROUP_ROOT / "pids" / where.lstrip("/")
            return parent if os.access(parent, os.W_OK) else None
    for line in lines:
        if line.startswith("0::"):  # cgroup v2: the parent must delegate pids
            parent = CGROUP_ROOT / line[3:].lstrip("/")
            try:
                delegated = (parent / "cgroup.subtree_control").read_text().split()
            except OSError:
                return None
            return parent if "pids" in delegated and os.access(parent, os.W_OK) else None
    return None
