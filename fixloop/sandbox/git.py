"""fixloop's own git: every git command fixloop runs on a workspace or a repository.

A workspace's ``.git`` is written by the commands the model runs, so its configuration, hooks
and attributes are untrusted: ``git config core.fsmonitor 'env > leak'`` or a clean filter
would otherwise run as the sandbox server, with its environment, the next time fixloop
stages the tree for a snapshot. Here git runs

- with an environment built from scratch (``PATH``, an empty ``HOME``, no system or global
  configuration, no system attributes, no prompts, no replace refs): nothing of the server's
  environment reaches git or anything git could start;
- with every setting that makes git run a program overridden at command-line scope, which
  beats any file the repository includes: fsmonitor, hooks, pagers, external diff, ssh and
  proxy commands, credential helpers, signing; and for every filter, diff and merge driver
  the repository's configuration defines (``git config --list``, includes followed, under
  the same environment), its commands are emptied and ``required`` is false;
- pinned to the repository's own ``.git`` directory and working tree, so ``core.worktree``
  or a ``.git`` file pointing elsewhere cannot make fixloop read another tree.

The overrides travel as ``GIT_CONFIG_COUNT``/``GIT_CONFIG_KEY_n``/``GIT_CONFIG_VALUE_n``,
which git treats as command-line configuration and which take any name (a subsection may
hold ``=``). The commands fixloop runs on a workspace never take a lock a command could hold:
commands are over (and their processes gone) before fixloop's git runs.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from fixloop.errors import FixloopError, TransientError

__all__ = [
    "GIT_TIMEOUT_S",
    "Git",
    "WorkspaceError",
    "clone",
    "git_env",
    "last_line",
]

GIT_TIMEOUT_S = 300

PROGRAM_SETTINGS: dict[str, str] = {
    "core.fsmonitor": "false",
    "core.hooksPath": os.devnull,
    "core.sshCommand": "ssh",
    "core.gitProxy": "",
    "core.askPass": "",
    "core.pager": "cat",
    "core.editor": ":",
    "core.alternateRefsCommand": "",
    "diff.external": "",
    "credential.helper": "",
    "commit.gpgSign": "false",
    "tag.gpgSign": "false",
    "protocol.ext.allow": "never",
    "submodule.recurse": "false",
    "diff.ignoreSubmodules": "all",
    # Commands may own the workspace (a separate uid); fixloop reads it all the same.
    "safe.directory": "*",
}
"""Settings that make git run a program (or that fixloop needs), at safe values."""

DRIVER_SETTINGS: dict[str, dict[str, str]] = {
    "filter": {"clean": "", "smudge": "", "process": "", "required": "false"},
    "diff": {"command": "", "textconv": ""},
    "merge": {"driver": ""},
    "remote": {"uploadpack": "git-upload-pack", "receivepack": "git-receive-pack"},
    "credential": {"helper": ""},
}
"""Per-name settings (``filter.<name>.clean``...) that name a program: emptied for every name
the repository's configuration defines."""

NETWORK_VARIABLES = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "GIT_SSL_CAINFO",
)
"""Kept from the server's environment for clones and fetches only (a proxy, a CA bundle)."""


class WorkspaceError(FixloopError):
    """git failed on a workspace in a way no input explains (a broken clone, a full disk),
    or the workspace's ``.git`` is no longer the clone fixloop made."""


def git_env(*, network: bool = False) -> dict[str, str]:
    """The whole environment of fixloop's git: nothing inherited but ``PATH`` (and, for a
    clone or fetch, the proxy and CA variables)."""
    env = {
        "PATH": os.environ.get("PATH") or os.defpath,
        # An empty home: $HOME/.gitconfig and $XDG_CONFIG_HOME/git/* cannot be read.
        "HOME": os.devnull,
        "LC_ALL": "C",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_ATTR_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_NO_REPLACE_OBJECTS": "1",
        "GIT_PAGER": "cat",
    }
    if network:
        env.update({k: os.environ[k] for k in NETWORK_VARIABLES if k in os.environ})
    return env


class Git:
    """git on one repository as fixloop runs it (see the module's docstring).

    ``workspace=True`` (a sandbox's clone): git is pinned to ``root/.git``, which must be a
    real directory. ``workspace=False`` (the user's own repository, which may be a linked
    worktree): git finds the repository from ``root`` as usual. The overrides are read from
    the repository's configuration on first use; make one ``Git`` per operation, so a
    configuration changed by a later command is read again.
    """

    def __init__(self, root: Path, *, workspace: bool = True) -> None:
        self.root = Path(root)
        self._workspace = workspace
        self._config: dict[str, str] | None = None

    def run(
        self,
        args: list[str],
        *,
        env: Mapping[str, str] | None = None,
        config: Mapping[str, str] | None = None,
        network: bool = False,
        timeout: float = GIT_TIMEOUT_S,
    ) -> subprocess.CompletedProcess[bytes]:
        """Run ``git ARGS`` in the repository. ``env`` adds variables (``GIT_INDEX_FILE``,
        an identity); ``config`` adds settings after the protective ones."""
        full_env = {**self._base_env(network), **(env or {})}
        settings = {**self._overrides(), **(config or {})}
        _add_config(full_env, settings)
        return _run(["git", "-C", str(self.root), *args], full_env, timeout, args[0])

    def ok(
        self,
        args: list[str],
        *,
        env: Mapping[str, str] | None = None,
        config: Mapping[str, str] | None = None,
    ) -> bytes:
        """Like :meth:`run`; WorkspaceError when git fails."""
        proc = self.run(args, env=env, config=config)
        if proc.returncode != 0:
            raise WorkspaceError(f"git {args[0]} failed in {self.root}: {last_line(proc.stderr)}")
        return proc.stdout

    def _base_env(self, network: bool) -> dict[str, str]:
        env = git_env(network=network)
        if self._workspace:
            git_dir = self.root / ".git"
            if git_dir.is_symlink() or not git_dir.is_dir():
                raise WorkspaceError(
                    f"{git_dir} is no longer a directory (a command replaced it): the "
                    "workspace cannot be read"
                )
            env["GIT_DIR"] = str(git_dir)
            env["GIT_WORK_TREE"] = str(self.root)
        return env

    def _overrides(self) -> dict[str, str]:
        if self._config is None:
            self._config = protective_config(self._defined_names())
        return self._config

    def _defined_names(self) -> list[str]:
        env = self._base_env(network=False)
        _add_config(env, PROGRAM_SETTINGS)
        proc = _run(
            ["git", "-C", str(self.root), "config", "--null", "--name-only", "--list"],
            env,
            GIT_TIMEOUT_S,
            "config",
        )
        if proc.returncode != 0:
            raise WorkspaceError(
                f"cannot read the git configuration of {self.root}: {last_line(proc.stderr)}"
            )
        return [n for n in proc.stdout.decode("utf-8", "surrogateescape").split("\0") if n]


def protective_config(defined: list[str]) -> dict[str, str]:
    """The overrides for a repository whose configuration defines the names ``defined``
    (``section.subsection.key``, as ``git config --name-only --list`` prints them)."""
    settings = dict(PROGRAM_SETTINGS)
    for name in defined:
        section, _, rest = name.partition(".")
        subsection, dot, _key = rest.rpartition(".")
        keys = DRIVER_SETTINGS.get(section.lower())
        if keys is None or not dot or not subsection:
            continue
        for key, value in keys.items():
            settings[f"{section}.{subsection}.{key}"] = value
    return settings


def _add_config(env: dict[str, str], settings: Mapping[str, str]) -> None:
    for n, (key, value) in enumerate(settings.items()):
        env[f"GIT_CONFIG_KEY_{n}"] = key
        env[f"GIT_CONFIG_VALUE_{n}"] = value
    env["GIT_CONFIG_COUNT"] = str(len(settings))


def _run(
    cmd: list[str], env: dict[str, str], timeout: float, what: str
) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            cmd,
            capture_output=True,
            env=env,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise TransientError(f"git {what} timed out after {timeout:.0f}s") from exc


def clone(
    source: str, root: Path, config: Mapping[str, str], timeout: float
) -> subprocess.CompletedProcess[bytes]:
    """``git clone --no-checkout SOURCE ROOT`` with fixloop's environment; ``config`` (an
    auth header) is given at command-line scope, never written to the clone."""
    env = git_env(network=True)
    _add_config(env, {**PROGRAM_SETTINGS, **config})
    return _run(
        ["git", "clone", "--quiet", "--no-checkout", "--", source, str(root)], env, timeout, "clone"
    )


def last_line(stderr: bytes) -> str:
    lines = stderr.decode("utf-8", "replace").strip().splitlines()
    return lines[-1] if lines else "git gave no reason"
