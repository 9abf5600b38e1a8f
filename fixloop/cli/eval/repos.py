"""The repository of each run of a scenario: fresh, and holding nothing of the scenario.

Every run gets its own git repository (a run never sees another run's ``fixloop/`` branch),
made from the scenario's source, which is fetched once per ``fixloop eval``:

- ``path``: the folder is copied (no ``.git``, caches left out) and committed once, as the
  demo's sample is (:mod:`fixloop.cli.demo`);
- ``git``: the source is cloned once with fixloop's own git (:mod:`fixloop.sandbox.git`:
  nothing in the source's configuration runs); each run's repository *fetches* the ref's
  history only, so later commits (an upstream fix, other branches, tags) are not in it;
- ``pypi``: ``pip download --no-deps --no-binary :all: NAME==VERSION`` (pip's own settings
  apply: an index mirror, a proxy), kept in ``$FIXLOOP_HOME/eval-cache/pypi/`` so the next
  ``fixloop eval`` does not download it again; unpacked (``tar`` with the ``data`` filter),
  patched with ``patch -p1`` and committed once;
- ``npm``: ``npm pack NAME@VERSION`` (npm's own settings apply: a registry mirror, a proxy;
  npm checks the tarball's integrity against the registry's), kept in
  ``$FIXLOOP_HOME/eval-cache/npm/``; its ``package/`` folder becomes the repository, patched
  and committed as an sdist is.

The scenario's folder (``verify``, the patch, the script) is never copied into a repository.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from fixloop.cli.eval.errors import PreparationError
from fixloop.cli.eval.scenario import GitRepo, NpmRepo, PackageRepo, PathRepo, PypiRepo, Scenario
from fixloop.sandbox.git import Git, clone, last_line

__all__ = ["Sources", "cache_home", "remove_tree"]

CLONE_TIMEOUT_S = 900
DOWNLOAD_TIMEOUT_S = 600
PATCH_TIMEOUT_S = 60
BASE_BRANCH = "main"
SOURCE_REF = "refs/heads/fixloop-eval-source"
"""In a scenario's source clone: the commit its runs start from."""
IDENTITY = {
    "GIT_AUTHOR_NAME": "fixloop eval",
    "GIT_AUTHOR_EMAIL": "eval@fixloop.invalid",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00+00:00",
    "GIT_COMMITTER_NAME": "fixloop eval",
    "GIT_COMMITTER_EMAIL": "eval@fixloop.invalid",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00+00:00",
}
"""A fixed author and date: every run of a scenario starts from the same commit."""
LEFT_OUT = shutil.ignore_patterns(".git", "__pycache__", ".pytest_cache", ".mypy_cache")
ARCHIVES = (".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".zip")


def cache_home(fixloop_home: Path) -> Path:
    return fixloop_home / "eval-cache"


class Sources:
    """The sources of one ``fixloop eval``: each fetched once, under ``workdir``."""

    def __init__(self, workdir: Path, cache: Path, say: Callable[[str], None]) -> None:
        self.workdir = workdir
        self.cache = cache
        self.say = say
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._ready: dict[str, Path] = {}

    def new_repo(self, scenario: Scenario, dest: Path) -> str:
        """Make ``dest`` a fresh repository of ``scenario`` (branch ``main``); its commit."""
        source = self._source(scenario)
        dest.mkdir(parents=True)
        git = Git(dest, workspace=False)
        _ok(git, ["init", "-q", "-b", BASE_BRANCH])
        if isinstance(scenario.spec.repo, GitRepo):
            # The ref's history only: not the source's other branches, tags or later commits.
            _ok(git, ["fetch", "-q", "--no-tags", str(source), SOURCE_REF])
            _ok(git, ["checkout", "-q", "-B", BASE_BRANCH, "FETCH_HEAD"])
        else:
            shutil.copytree(source, dest, symlinks=True, ignore=LEFT_OUT, dirs_exist_ok=True)
            _ok(git, ["add", "-A"])
            _ok(git, ["commit", "-q", "--allow-empty", "-m", f"{scenario.name}"], env=IDENTITY)
        return _ok(Git(dest, workspace=False), ["rev-parse", "HEAD"]).strip()

    def _source(self, scenario: Scenario) -> Path:
        with self._lock:
            lock = self._locks.setdefault(scenario.name, threading.Lock())
        with lock:
            ready = self._ready.get(scenario.name)
            if ready is None:
                ready = self._fetch(scenario)
                self._ready[scenario.name] = ready
            return ready

    def _fetch(self, scenario: Scenario) -> Path:
        repo = scenario.spec.repo
        if isinstance(repo, PathRepo):
            return scenario.inside(repo.path)
        place = self.workdir / "sources" / scenario.name
        place.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(repo, GitRepo):
            return self._clone(scenario, repo, place)
        return self._patched(scenario, repo, place)

    def _clone(self, scenario: Scenario, repo: GitRepo, place: Path) -> Path:
        source = scenario.git_source()
        self.say(f"{scenario.name}: cloning {repo.git} at {repo.ref}")
        proc = clone(source, place, {}, CLONE_TIMEOUT_S)
        if proc.returncode != 0:
            raise PreparationError(f"git clone {repo.git} failed: {last_line(proc.stderr)}")
        git = Git(place)
        for candidate in (repo.ref, f"refs/remotes/origin/{repo.ref}", f"refs/tags/{repo.ref}"):
            found = git.run(["rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}"])
            if found.returncode == 0:
                commit = found.stdout.decode().strip()
                _ok(Git(place), ["update-ref", SOURCE_REF, commit])
                return place
        raise PreparationError(f"{repo.git} has no commit {repo.ref!r}")

    def _patched(self, scenario: Scenario, repo: PackageRepo, place: Path) -> Path:
        """The published package, unpacked into ``place`` and patched: its root folder."""
        if isinstance(repo, PypiRepo):
            archive, spec = self._download(scenario, repo), repo.pypi
        else:
            archive, spec = self._pack(scenario, repo), repo.npm
        place.mkdir()
        _unpack(archive, place)
        entries = list(place.iterdir())
        root = entries[0] if len(entries) == 1 and entries[0].is_dir() else place
        patch = scenario.inside(repo.patch)
        proc = _running(
            ["patch", "-p1", "--batch", "--forward", "--no-backup-if-mismatch", "-i", str(patch)],
            f"patch -p1 < {repo.patch} could not run",
            cwd=root,
            timeout=PATCH_TIMEOUT_S,
        )
        if proc.returncode != 0:
            out = (proc.stdout + proc.stderr).decode("utf-8", "replace").strip().splitlines()
            raise PreparationError(
                f"{repo.patch} does not apply to {spec}: {out[-1] if out else 'no reason'}"
            )
        return root

    def _download(self, scenario: Scenario, repo: PypiRepo) -> Path:
        """The sdist of ``NAME==VERSION``: from the cache, else downloaded into it."""
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-binary",
            ":all:",
            "--disable-pip-version-check",
            "--quiet",
            "--dest",
        ]
        entry = self.cache / "pypi" / f"{_canonical(repo.project)}-{repo.version}"

        def fetch(tmp: Path) -> None:
            self.say(f"{scenario.name}: downloading the sdist of {repo.pypi}")
            proc = _running([*cmd, str(tmp), repo.pypi], f"pip download {repo.pypi}")
            if proc.returncode != 0 or _archive_in(tmp) is None:
                raise PreparationError(f"pip download {repo.pypi} failed: {last_line(proc.stderr)}")

        return self._cached(scenario, repo.pypi, entry, fetch)

    def _pack(self, scenario: Scenario, repo: NpmRepo) -> Path:
        """The registry's tarball of ``NAME@VERSION``: from the cache, else packed into it
        (``npm pack`` of a registry spec fetches the tarball and checks its integrity; it runs
        no script of the package)."""
        entry = self.cache / "npm" / f"{repo.package.replace('/', '+')}-{repo.version}"

        def fetch(tmp: Path) -> None:
            self.say(f"{scenario.name}: downloading the npm tarball of {repo.npm}")
            npm = shutil.which("npm")
            if npm is None:
                raise PreparationError(f"npm pack {repo.npm}: npm is not on PATH")
            cmd = [npm, "pack", repo.npm, "--pack-destination", str(tmp), "--json"]
            cmd += ["--ignore-scripts", "--loglevel=error", "--update-notifier=false"]
            proc = _running(cmd, f"npm pack {repo.npm}", cwd=tmp)
            if proc.returncode != 0 or _archive_in(tmp) is None:
                raise PreparationError(f"npm pack {repo.npm} failed: {_npm_reason(proc)}")

        return self._cached(scenario, repo.npm, entry, fetch)

    def _cached(
        self, scenario: Scenario, spec: str, entry: Path, fetch: Callable[[Path], None]
    ) -> Path:
        """The archive kept in ``entry``; when there is none, ``fetch`` puts one into a
        temporary folder beside it, which is then kept."""
        entry.mkdir(parents=True, exist_ok=True)
        with _file_lock(entry / ".lock"):  # another fixloop eval may be fetching it too
            kept = _archive_in(entry)
            if kept is not None:
                self.say(f"{scenario.name}: {spec} from the cache ({kept.name})")
                return kept
            with tempfile.TemporaryDirectory(dir=entry, prefix=".download-") as tmp:
                fetch(Path(tmp))
                got = _archive_in(Path(tmp))
                assert got is not None  # fetch raised otherwise
                kept = entry / got.name
                got.replace(kept)
            return kept


def _running(
    cmd: list[str], what: str, cwd: Path | None = None, timeout: float = DOWNLOAD_TIMEOUT_S
) -> subprocess.CompletedProcess[bytes]:
    """``cmd`` run to its end within ``timeout``; one that cannot start or ends late is a
    :class:`PreparationError` starting with ``what``."""
    try:
        return subprocess.run(
            cmd,
            cwd=cwd,
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PreparationError(f"{what}: {exc}") from exc


def _npm_reason(proc: subprocess.CompletedProcess[bytes]) -> str:
    """npm's one-line reason: with ``--json`` it writes ``{"error": {"summary"}}``."""
    try:
        summary = json.loads(proc.stdout)["error"]["summary"]
    except (ValueError, KeyError, TypeError):
        return last_line(proc.stderr)
    return " ".join(str(summary).split()) or last_line(proc.stderr)


def _ok(git: Git, args: list[str], env: dict[str, str] | None = None) -> str:
    proc = git.run(args, env=env)
    if proc.returncode != 0:
        raise PreparationError(f"git {args[0]} failed in {git.root}: {last_line(proc.stderr)}")
    return proc.stdout.decode("utf-8", "replace")


def _canonical(project: str) -> str:
    return re.sub(r"[-_.]+", "-", project).lower()


def _archive_in(folder: Path) -> Path | None:
    found = sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(ARCHIVES))
    return found[0] if found else None


def _unpack(archive: Path, dest: Path) -> None:
    """Unpack an sdist or an npm tarball; members that would land outside ``dest`` (or links,
    devices) are refused by the tar ``data`` filter, and by the same check for a zip."""
    try:
        if archive.name.endswith(".zip"):
            with zipfile.ZipFile(archive) as zf:
                for name in zf.namelist():
                    target = (dest / name).resolve()
                    if not target.is_relative_to(dest.resolve()):
                        raise PreparationError(f"{archive.name}: {name!r} is outside the archive")
                zf.extractall(dest)
        else:
            with tarfile.open(archive) as tf:
                tf.extractall(dest, filter="data")
    except (OSError, tarfile.TarError, zipfile.BadZipFile) as exc:
        raise PreparationError(f"cannot unpack {archive.name}: {exc}") from exc


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def remove_tree(path: Path) -> None:
    """Remove a run's folder, whatever the sandbox or the verify command left in it."""
    for root, dirs, _files in os.walk(path):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o700)
    shutil.rmtree(path, ignore_errors=True)
