"""Isolation ``bwrap``: the command in its own namespaces with bubblewrap.

- ``--unshare-all``: no network at all (the host's loopback services, the embedded
  runtime's AWS endpoint and the sandbox server are out of reach), its own PID, IPC, UTS and
  cgroup namespaces; ``--unshare-user --uid 65534 --gid 65534``: an unprivileged user
  inside, with no capabilities, and ``--disable-userns`` so it cannot make another.
- ``--proc /proc`` of its own PID namespace: other processes' ``/proc/<pid>/environ`` do not
  exist for it. ``--die-with-parent``: when the server, or the command's bwrap, is killed,
  the namespace goes and every process in it (``setsid`` or not) with it.
- ``--clearenv``, then only the command's environment (built by
  :func:`fixloop.sandbox.confinement.command.command_env`). ``--new-session``.
- A file system of its own: read-only ``/usr``, ``/etc`` (less what others may not read:
  ``/etc/shadow``, private keys), the ``/bin``, ``/sbin`` and ``/lib*`` links or directories,
  and the sandbox interpreter's prefixes (``sys.prefix``, ``sys.base_prefix``, where its
  executable really lives), computed, since the interpreter may live anywhere (a pyenv under
  ``/root``, a virtual environment in a project); a fresh ``/dev``, a ``/tmp`` tmpfs; and,
  read-write, the workspace and its home. Nothing else: not the server's state, the user's
  home, ``~/.fixloop``, ``~/.aws``, nor other workspaces.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

from fixloop.sandbox.confinement.base import CommandLimits, Confinement
from fixloop.sandbox.limits import COMMAND_TMP_BYTES

__all__ = ["Bubblewrap", "probe_bwrap"]

SANDBOX_ID = 65534
"""uid and gid of the command inside the namespace (nobody, nogroup)."""

SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
PROBE_TIMEOUT_S = 10


class Bubblewrap(Confinement):
    name = "bwrap"
    uses_cgroup = True  # root's RLIMIT_NPROC does not bind (see .cgroup)

    def __init__(self, limits: CommandLimits, program: str) -> None:
        super().__init__(limits)
        self.program = program

    def describe(self) -> str:
        return (
            f"bubblewrap ({self.program}): uid {SANDBOX_ID} in its own user, PID, network and "
            "mount namespaces; only the workspace is writable"
        )

    def wrap(self, argv: list[str], root: Path, home: Path, env: dict[str, str]) -> list[str]:
        args = [self.program, *_namespace_args(self.program), "--clearenv"]
        for key, value in env.items():
            args += ["--setenv", key, value]
        args += _filesystem_args(self.program)
        for path in (root, home):
            args += ["--bind", str(path), str(path)]
        args += ["--chdir", str(root), "--", *self.limits.prlimit(), *argv]
        return args


def probe_bwrap(program: str) -> str | None:
    """None when bubblewrap runs a command confined here; else why not."""
    return _probe(shutil.which(program) or program)


@lru_cache(maxsize=8)
def _probe(program: str) -> str | None:
    if not os.path.isfile(program) or not os.access(program, os.X_OK):
        return f"bubblewrap is not installed ({program!r} not found)"
    args = [program, *_namespace_args(program), "--clearenv", *_filesystem_args(program)]
    try:
        proc = subprocess.run(
            [*args, "--", "true"],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            env={"PATH": "/usr/bin:/bin"},
            timeout=PROBE_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{program} could not run: {exc}"
    if proc.returncode != 0:
        reason = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        return f"{program} cannot make namespaces here: {reason[-1] if reason else 'no reason'}"
    return None


@lru_cache(maxsize=8)
def _options(program: str) -> frozenset[str]:
    """The options this bubblewrap knows (``--disable-userns`` and ``--size`` are 0.8's)."""
    try:
        out = subprocess.run(
            [program, "--help"], capture_output=True, timeout=PROBE_TIMEOUT_S, check=False
        ).stdout.decode("utf-8", "replace")
    except (OSError, subprocess.TimeoutExpired):
        return frozenset()
    return frozenset(word for word in out.split() if word.startswith("--"))


def _namespace_args(program: str) -> list[str]:
    args = [
        "--unshare-all",
        "--unshare-user",
        "--uid",
        str(SANDBOX_ID),
        "--gid",
        str(SANDBOX_ID),
        "--die-with-parent",
        "--new-session",
        "--hostname",
        "sandbox",
    ]
    if "--disable-userns" in _options(program):
        args.append("--disable-userns")
    return args


def _filesystem_args(program: str) -> list[str]:
    args: list[str] = []
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    args += ["--ro-bind", "/etc", "/etc", *_etc_masks()]
    args += ["--proc", "/proc", "--dev", "/dev"]
    if "--size" in _options(program):
        args += ["--size", str(COMMAND_TMP_BYTES)]
    args += ["--tmpfs", "/tmp"]
    # After /tmp's tmpfs, which would hide an interpreter that lives under /tmp (a checkout
    # there with its virtual environment): mounts made later land on top of earlier ones.
    for prefix in _interpreter_dirs():
        args += ["--ro-bind", prefix, prefix]
    return args


@lru_cache(maxsize=1)
def _interpreter_dirs() -> tuple[str, ...]:
    """Where the sandbox's Python lives (as named and as resolved: a virtual environment's
    ``python`` links to its base interpreter), outside the directories bound anyway."""
    candidates = (
        sys.prefix,
        sys.base_prefix,
        sys.exec_prefix,
        sys.base_exec_prefix,
        str(Path(os.path.realpath(sys.executable)).parent.parent),
    )
    paths = set()
    for c in candidates:
        if c and os.path.isdir(c):
            paths |= {os.path.abspath(c), os.path.realpath(c)}
    kept: list[str] = []
    for d in sorted(paths, key=len):  # parents first: a later bind would hide a child's
        if d == "/" or _under(d, ("/usr", "/etc")) or _under(d, kept):
            continue
        kept.append(d)
    return tuple(kept)


def _under(path: str, bases: tuple[str, ...] | list[str]) -> bool:
    return any(path == b or path.startswith(b + "/") for b in bases)


@lru_cache(maxsize=1)
def _etc_masks() -> tuple[str, ...]:
    """Hide what in /etc others may not read: as root outside the namespace, the command
    would otherwise read ``/etc/shadow`` or a host key through the read-only bind."""
    masks: list[str] = []
    for dirpath, dirnames, filenames in os.walk("/etc"):
        for name in list(dirnames):
            path = os.path.join(dirpath, name)
            if not _others_may_read(path, directory=True):
                masks += ["--tmpfs", path]
                dirnames.remove(name)
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not _others_may_read(path, directory=False):
                masks += ["--ro-bind", os.devnull, path]
    return tuple(masks)


def _others_may_read(path: str, *, directory: bool) -> bool:
    try:
        st = os.lstat(path)
    except OSError:
        return True
    if stat.S_ISLNK(st.st_mode):
        return True  # the target is checked where it is
    needed = stat.S_IROTH | (stat.S_IXOTH if directory else 0)
    return st.st_mode & needed == needed
