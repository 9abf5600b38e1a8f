"""Isolation ``uid``: the command as a separate unprivileged user (Fargate, where tasks get
no user namespaces).

The server runs as root and starts each command through ``setpriv``: real and effective
uid and gid of the sandbox user (``FIXLOOP_SANDBOX_USER``, default 65534:65534; the image's
``sandbox`` user), no supplementary groups, no capabilities, ``no_new_privs`` (a setuid
program cannot give them back), its own session; then ``prlimit`` bounds its processes
(RLIMIT_NPROC counts every process of that uid) and file sizes. What it cannot reach follows
from the uid: the server's ``/proc/<pid>/environ`` belongs to root (and the server is not
dumpable), other users' files keep their modes. The network is shared: the boundary there
is that nothing in reach holds a credential.

Nothing outlives a command: the server is a child subreaper (``PR_SET_CHILD_SUBREAPER``),
so a process that left its session (``setsid sleep 31337 &``) and lost its parent is
re-parented to the server rather than to init; after the command, every process of the
sandbox uid among the server's children, and all their descendants, is killed and reaped.

The workspace and its home are handed to the sandbox user before each command (files the
tools or fixloop's git made since are root's), and the directory holding them made
traversable; fixloop's own git reads the workspace all the same (``safe.directory``).
"""

from __future__ import annotations

import contextlib
import ctypes
import grp
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
from functools import lru_cache
from pathlib import Path

from fixloop.errors import ConfigError, ToolFailed
from fixloop.sandbox.confinement.base import CommandLimits, Confinement

__all__ = ["SeparateUid", "probe_uid", "resolve_user"]

PR_SET_CHILD_SUBREAPER = 36
SWEEP_ROUNDS = 200
PROBE_TIMEOUT_S = 10


class SeparateUid(Confinement):
    name = "uid"
    uses_cgroup = True  # where one can be made; RLIMIT_NPROC binds anyway

    def __init__(self, limits: CommandLimits, uid: int, gid: int) -> None:
        super().__init__(limits)
        self.uid, self.gid = uid, gid
        become_subreaper()

    def describe(self) -> str:
        return f"a separate uid ({self.uid}:{self.gid}), no_new_privs, its own session"

    def prepare(self, root: Path, home: Path) -> None:
        for tree in (root, home):
            _hand_over(tree, self.uid, self.gid)
            _make_reachable(tree, self.uid, self.gid)

    def wrap(self, argv: list[str], root: Path, home: Path, env: dict[str, str]) -> list[str]:
        return [*_setpriv(self.uid, self.gid), *self.limits.prlimit(), *argv]

    def sweep(self) -> None:
        kill_orphans(self.uid)


def resolve_user(spec: str) -> tuple[int, int]:
    """``name``, ``uid``, ``name:group`` or ``uid:gid`` as numbers; ConfigError if unknown."""
    user, _, group = spec.strip().partition(":")
    try:
        if user.isdigit():
            uid = int(user)
            default_gid = pwd.getpwuid(uid).pw_gid if not group else 0
        else:
            entry = pwd.getpwnam(user)
            uid, default_gid = entry.pw_uid, entry.pw_gid
        gid = (
            (int(group) if group.isdigit() else grp.getgrnam(group).gr_gid)
            if group
            else default_gid
        )
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"FIXLOOP_SANDBOX_USER={spec!r} is not a user of this system") from exc
    if uid == 0 or gid == 0:
        raise ConfigError(f"FIXLOOP_SANDBOX_USER={spec!r} is root: commands need another user")
    return uid, gid


def probe_uid(uid: int, gid: int) -> str | None:
    """None when this process can run a command as ``uid``:``gid``; else why not."""
    return _probe(uid, gid)


@lru_cache(maxsize=8)
def _probe(uid: int, gid: int) -> str | None:
    if sys.platform != "linux":
        return "a separate uid needs Linux"
    if os.geteuid() != 0:
        return f"this process (uid {os.geteuid()}) cannot switch to another uid: it is not root"
    if shutil.which("setpriv") is None or shutil.which("prlimit") is None:
        return "setpriv and prlimit (util-linux) are not installed"
    try:
        proc = subprocess.run(
            [*_setpriv(uid, gid), "true"],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            env={"PATH": "/usr/bin:/bin"},
            timeout=PROBE_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"setpriv could not run: {exc}"
    if proc.returncode != 0:
        reason = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        return f"cannot switch to uid {uid}: {reason[-1] if reason else 'no reason'}"
    return None


def _setpriv(uid: int, gid: int) -> list[str]:
    return [
        shutil.which("setpriv") or "setpriv",
        f"--reuid={uid}",
        f"--regid={gid}",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--no-new-privs",
        "--",
    ]


@lru_cache(maxsize=1)
def become_subreaper() -> None:
    """Orphans of this process's descendants come back to it (Linux; once per process)."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def kill_orphans(uid: int) -> None:
    """Kill and reap every child of this process running as ``uid``, and its descendants:
    what a command left behind once its own process was reaped. Repeats until none is left
    (a process may fork while its siblings die)."""
    me = os.getpid()
    for _ in range(SWEEP_ROUNDS):
        table = _processes()
        roots = [pid for pid, (ppid, puid) in table.items() if ppid == me and puid == uid]
        if not roots:
            return
        for pid in _with_descendants(roots, table):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        for pid in roots:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        time.sleep(0.001)


def _processes() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, real uid) of every process."""
    table: dict[int, tuple[int, int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            status = Path(entry.path, "status").read_text()
        except OSError:
            continue  # gone meanwhile
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        try:
            table[int(entry.name)] = (int(fields["PPid"]), int(fields["Uid"].split()[0]))
        except (KeyError, ValueError, IndexError):
            continue
    return table


def _with_descendants(roots: list[int], table: dict[int, tuple[int, int]]) -> list[int]:
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = [], list(roots)
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def _hand_over(tree: Path, uid: int, gid: int) -> None:
    """Give ``tree`` (the workspace, its home) to the sandbox user, entry by entry, without
    following links; only entries owned by someone else are changed."""
    stack = [str(tree)]
    while stack:
        path = stack.pop()
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        if (st.st_uid, st.st_gid) != (uid, gid):
            os.lchown(path, uid, gid)
        if os.path.isdir(path) and not os.path.islink(path):
            with os.scandir(path) as entries:
                stack += [e.path for e in entries]


def _make_reachable(tree: Path, uid: int, gid: int) -> None:
    """The directory holding ``tree`` is the sandbox's own (made by the server): let others
    through it (search, not list). Every other ancestor must already let the uid through."""
    parent = tree.parent
    st = parent.stat()
    if st.st_uid == os.geteuid() and not st.st_mode & 0o001:
        parent.chmod(st.st_mode | 0o001)
    for ancestor in [parent, *parent.parents]:
        st = ancestor.stat()
        allowed = 0o100 if st.st_uid == uid else 0o010 if st.st_gid == gid else 0o001
        if not st.st_mode & allowed:
            raise ToolFailed(
                f"the command's user (uid {uid}) cannot reach the workspace: {ancestor} does "
                "not let it through; run the sandbox with a work directory under one it can "
                "traverse (such as /tmp)"
            )
