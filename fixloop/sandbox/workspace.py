"""The workspace: a clone of the repository at the investigated commit, plus the edits.

A workspace is a plain git clone with a detached HEAD at ``base_commit``. Everything the
investigation changes (tool edits, files written by commands, even commits a command makes)
is the difference between the working tree and ``base_commit``. :meth:`Workspace.snapshot`
captures that difference as a binary patch, with the journal of mutating calls already
applied; :meth:`Workspace.restore` rebuilds an equal workspace from it anywhere, so the
workspace survives the loss of its sandbox.

Snapshots stage into a temporary index (``GIT_INDEX_FILE``), never into the clone's own
index, so whatever a command staged is left alone.
"""

from __future__ import annotations

import base64
import fnmatch
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from pydantic import BaseModel, Field

from fixloop.errors import BadInputError, FixloopError, ToolFailed, TransientError

CLONE_TIMEOUT_S = 900
GIT_TIMEOUT_S = 300
IDENTITY = {"user.name": "fixloop", "user.email": "fixloop@localhost"}
"""The local git identity of a workspace, so a command that commits does not fail."""

_GIT_ENV_DROPPED = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_CEILING_DIRECTORIES",
    "GIT_DISCOVERY_ACROSS_FILESYSTEM",
)
"""Variables that would point git at another repository than the workspace."""


class WorkspaceError(FixloopError):
    """git failed on a workspace in a way no input explains (a broken clone, a full disk)."""


class AppliedCall(BaseModel):
    """The result of a mutating call that was applied to the workspace."""

    content: str
    is_error: bool


class FileChange(BaseModel):
    """One file of the change as a code host needs it: its final content, or its removal."""

    path: str
    mode: str = "100644"
    """git file mode: 100644, 100755 or 120000 (a symbolic link)."""
    content_b64: str | None = None
    """The file's bytes, base64; None when the change deletes it."""


class Snapshot(BaseModel):
    """Everything needed to rebuild a workspace: base commit, changes, journal."""

    base_commit: str
    patch: str = ""
    """``git diff --binary`` of the whole working tree (untracked files included) against
    ``base_commit``; empty when the tree is clean."""
    applied: dict[str, AppliedCall] = Field(default_factory=dict)
    """Mutating calls already applied, by the key the caller chose for each."""
    files: list[FileChange] = Field(default_factory=list)
    """The same change file by file (for code hosts that take contents, not patches)."""


class Workspace:
    """A git clone at ``base_commit`` whose working tree holds the investigation's edits."""

    def __init__(
        self, root: Path, base_commit: str, applied: dict[str, AppliedCall] | None = None
    ) -> None:
        self.root = Path(root).resolve()
        self.base_commit = base_commit
        self.applied: dict[str, AppliedCall] = dict(applied or {})
        self._home: Path | None = None

    # -- creation --------------------------------------------------------------------------

    @classmethod
    def create(
        cls, root: Path, source: str | Path, commit: str, *, auth_header: str | None = None
    ) -> Workspace:
        """Clone ``source`` (a local path or a URL) into ``root`` and check out ``commit``.

        ``root`` must not exist or be empty. Raises BadInputError when the source cannot be
        cloned or does not have the commit; nothing is left behind at ``root`` then.
        ``auth_header`` (``Authorization: ...``) is sent by the clone and fetch commands only:
        it is never written to the clone's configuration.
        """
        root = Path(root)
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise BadInputError(f"workspace root {root} already exists and is not empty")
        if not commit.strip() or commit.startswith("-"):
            raise BadInputError(f"{commit!r} is not a commit")
        created = not root.exists()
        try:
            return cls._clone(root, str(source), commit.strip(), auth_header)
        except BaseException:
            _remove(root, created)
            raise

    @classmethod
    def _clone(cls, root: Path, source: str, commit: str, auth_header: str | None) -> Workspace:
        # git's ext:: transport runs a command; a source is never allowed to. `git -c` (not
        # `git clone -c`) keeps the header out of the new clone's .git/config.
        remote = {"protocol.ext.allow": "never"}
        if auth_header:
            remote["http.extraHeader"] = auth_header
        proc = _run_git(
            None,
            ["clone", "--quiet", "--no-checkout", "--", source, str(root)],
            timeout=CLONE_TIMEOUT_S,
            config=remote,
        )
        if proc.returncode != 0:
            raise BadInputError(f"cannot clone {source}: {_last_line(proc.stderr)}")
        sha = _rev_parse(root, commit)
        if sha is None:
            # A commit that no branch or tag reaches may still be fetched by its id.
            _run_git(
                root, ["fetch", "--quiet", "origin", commit], timeout=CLONE_TIMEOUT_S, config=remote
            )
            sha = _rev_parse(root, commit)
        if sha is None:
            raise BadInputError(f"commit {commit!r} is not in {source}")
        proc = _run_git(root, ["checkout", "--quiet", "--detach", sha])
        if proc.returncode != 0:
            raise BadInputError(f"cannot check out {commit} of {source}: {_last_line(proc.stderr)}")
        for key, value in IDENTITY.items():
            _git_ok(root, ["config", key, value])
        return cls(root, sha)

    @classmethod
    def restore(
        cls,
        root: Path,
        source: str | Path,
        snapshot: Snapshot,
        *,
        auth_header: str | None = None,
    ) -> Workspace:
        """Rebuild the workspace a snapshot was taken of: clone, apply the patch, load the
        journal. Raises BadInputError when the patch does not apply to its base commit."""
        root = Path(root)
        created = not root.exists()
        ws = cls.create(root, source, snapshot.base_commit, auth_header=auth_header)
        try:
            if snapshot.patch:
                ws._apply(snapshot.patch)
        except BaseException:
            _remove(root, created)
            raise
        ws.applied = dict(snapshot.applied)
        return ws

    def _apply(self, patch: str) -> None:
        with tempfile.NamedTemporaryFile(suffix=".patch", delete=False) as f:
            f.write(patch.encode("utf-8", "surrogateescape"))
        try:
            proc = _run_git(self.root, ["apply", "--binary", "--whitespace=nowarn", "--", f.name])
        finally:
            os.unlink(f.name)
        if proc.returncode != 0:
            raise BadInputError(
                f"the snapshot's patch does not apply to {self.base_commit[:12]}: "
                f"{_last_line(proc.stderr)}"
            )

    # -- state -----------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """The working tree as a binary patch against the base commit, and the journal."""
        with self._staged_tree() as env:
            raw = self._diff_cached(env, binary=True)
            try:
                patch = raw.decode("utf-8")
            except UnicodeDecodeError:
                # A text file in another encoding: encode every file as a binary patch
                # (base85, ASCII) rather than store bytes a JSON string cannot hold.
                patch = self._diff_cached(env, binary=True, all_binary=True).decode("utf-8")
            files = self._changed_files(env)
        return Snapshot(
            base_commit=self.base_commit, patch=patch, applied=dict(self.applied), files=files
        )

    def _changed_files(self, env: dict[str, str]) -> list[FileChange]:
        """Each path the staged tree changes against the base, with its staged content."""
        out = _git_ok(
            self.root,
            ["diff", "--cached", "--name-status", "--no-renames", "-z", self.base_commit, "--"],
            env=env,
        )
        fields = out.split(b"\0")
        changes: list[FileChange] = []
        for status, raw_path in zip(fields[0::2], fields[1::2], strict=False):
            path = raw_path.decode("utf-8", "surrogateescape")
            if status == b"D":
                changes.append(FileChange(path=path))
                continue
            entry = _git_ok(self.root, ["ls-files", "-s", "-z", "--", path], env=env)
            mode, sha = entry.split(b" ")[:2]
            blob = _git_ok(self.root, ["cat-file", "blob", sha.decode()], env=env)
            changes.append(
                FileChange(
                    path=path,
                    mode=mode.decode(),
                    content_b64=base64.b64encode(blob).decode(),
                )
            )
        return changes

    def diff(self) -> str:
        """A unified diff of the working tree against the base commit, for people and the
        model: untracked files included, binary files only named ("Binary files ... differ").
        """
        with self._staged_tree() as env:
            raw = self._diff_cached(env, binary=False)
        return raw.decode("utf-8", "replace")

    def record(self, call_key: str, result: AppliedCall) -> None:
        """Journal a mutating call as applied, so it is never applied twice."""
        self.applied[call_key] = result

    def applied_result(self, call_key: str) -> AppliedCall | None:
        return self.applied.get(call_key)

    @contextmanager
    def _staged_tree(self) -> Iterator[dict[str, str]]:
        """Stage the whole working tree into a temporary index; yield git's environment."""
        with tempfile.TemporaryDirectory(prefix="fixloop-index-") as tmp:
            env = clean_git_env()
            env["GIT_INDEX_FILE"] = str(Path(tmp) / "index")
            own_index = self.root / ".git" / "index"
            if own_index.is_file():
                # Start from the clone's index for its cached file stats (no re-hashing of
                # unchanged files); read-tree -m then resets the entries to the base commit.
                shutil.copyfile(own_index, env["GIT_INDEX_FILE"])
            if _run_git(self.root, ["read-tree", "-m", self.base_commit], env=env).returncode:
                Path(env["GIT_INDEX_FILE"]).unlink(missing_ok=True)  # unmerged: start afresh
                _git_ok(self.root, ["read-tree", self.base_commit], env=env)
            _git_ok(self.root, ["add", "-A"], env=env)
            yield env

    def _diff_cached(self, env: dict[str, str], *, binary: bool, all_binary: bool = False) -> bytes:
        args = [
            "diff",
            "--cached",
            "--no-color",
            "--no-ext-diff",
            "--no-textconv",
            "--src-prefix=a/",
            "--dst-prefix=b/",
        ]
        args += ["--binary", "--no-renames"] if binary else ["--find-renames"]
        config: dict[str, str] = {}
        with tempfile.TemporaryDirectory(prefix="fixloop-attrs-") as tmp:
            if all_binary:
                attributes = Path(tmp) / "attributes"
                attributes.write_text("* -diff\n")
                config["core.attributesFile"] = str(attributes)
            return _git_ok(self.root, [*args, self.base_commit, "--"], env=env, config=config)

    # -- paths -----------------------------------------------------------------------------

    def resolve(self, path: str) -> Path:
        """The absolute path of ``path`` (relative to the root, or absolute inside it).

        Raises ToolFailed, naming the path, for anything outside the workspace (``..``, an
        absolute path elsewhere, a symbolic link that leads out) and for anything in ``.git``.
        """
        raw = path.strip()
        given = Path(raw or ".")
        full = Path(os.path.normpath(given if given.is_absolute() else self.root / given))
        if full != self.root and not full.is_relative_to(self.root):
            raise ToolFailed(f"path {path!r} is outside the workspace")
        if _in_git_dir(full.relative_to(self.root)):
            raise ToolFailed(f"path {path!r} is inside .git, which tools do not touch")
        try:
            real = full.resolve()
        except (OSError, RuntimeError) as exc:  # a symbolic link loop
            raise ToolFailed(f"path {path!r} cannot be resolved: {exc}") from exc
        if real != self.root and not real.is_relative_to(self.root):
            raise ToolFailed(f"path {path!r} leads outside the workspace through a symbolic link")
        if _in_git_dir(real.relative_to(self.root)):
            raise ToolFailed(f"path {path!r} leads into .git, which tools do not touch")
        return full

    def relative(self, path: Path) -> str:
        """``path`` relative to the root, as the model writes it ("." for the root)."""
        return PurePosixPath(path.relative_to(self.root)).as_posix()

    def files(self, under: str = "", glob: str = "") -> list[str]:
        """Tracked and untracked files that are not ignored, relative to the root, sorted.

        ``under`` limits them to a directory or a file; ``glob`` (fnmatch) must match either
        the relative path or the file name. Raises ToolFailed for a bad ``under``.
        """
        base = self.relative(self.resolve(under)) if under.strip() else "."
        args = ["ls-files", "-z", "--cached", "--others", "--exclude-standard", "--"]
        if base != ".":
            args.append(f":(literal){base}")
        proc = _run_git(self.root, args)
        if proc.returncode != 0:
            raise ToolFailed(f"cannot list files under {under!r}: {_last_line(proc.stderr)}")
        names = {n for n in proc.stdout.decode("utf-8", "surrogateescape").split("\0") if n}
        # The index may still list files a command deleted.
        found = [n for n in names if os.path.lexists(self.root / n)]
        if glob:
            found = [n for n in found if _glob_match(n, glob)]
        return sorted(found)

    @property
    def home(self) -> Path:
        """A private HOME (and TMPDIR) for commands: beside the working tree, not in it."""
        if self._home is None:
            self._home = Path(
                tempfile.mkdtemp(prefix=f".{self.root.name}-home-", dir=self.root.parent)
            )
            (self._home / "tmp").mkdir()
        return self._home


def _glob_match(name: str, glob: str) -> bool:
    pattern = glob.strip()
    candidates = [pattern]
    if pattern.startswith("**/"):
        candidates.append(pattern[3:])  # "**/*.py" also means "*.py" at the top
    basename = name.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(name, p) or fnmatch.fnmatchcase(basename, p) for p in candidates)


def _in_git_dir(rel: Path) -> bool:
    return any(part.casefold() == ".git" for part in rel.parts)


def _remove(root: Path, created: bool) -> None:
    """Undo a failed creation: remove what was made at ``root``, keep a directory given."""
    if created:
        shutil.rmtree(root, ignore_errors=True)
    elif root.is_dir():
        for child in root.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)


def clean_git_env() -> dict[str, str]:
    """This process's environment without what would point git at another repository."""
    env = {k: v for k, v in os.environ.items() if k not in _GIT_ENV_DROPPED}
    env["GIT_TERMINAL_PROMPT"] = "0"  # a private URL fails instead of waiting for a password
    return env


def _run_git(
    root: Path | None,
    args: list[str],
    *,
    env: dict[str, str] | None = None,
    config: dict[str, str] | None = None,
    timeout: float = GIT_TIMEOUT_S,
) -> subprocess.CompletedProcess[bytes]:
    cmd = ["git"]
    if root is not None:
        cmd += ["-C", str(root)]
    for key, value in (config or {}).items():
        cmd += ["-c", f"{key}={value}"]
    try:
        return subprocess.run(
            [*cmd, *args],
            capture_output=True,
            env=env if env is not None else clean_git_env(),
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise TransientError(f"git {args[0]} timed out after {timeout:.0f}s") from exc


def _git_ok(
    root: Path,
    args: list[str],
    *,
    env: dict[str, str] | None = None,
    config: dict[str, str] | None = None,
) -> bytes:
    proc = _run_git(root, args, env=env, config=config)
    if proc.returncode != 0:
        raise WorkspaceError(f"git {args[0]} failed in {root}: {_last_line(proc.stderr)}")
    return proc.stdout


def _rev_parse(root: Path, commit: str) -> str | None:
    proc = _run_git(root, ["rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}"])
    return proc.stdout.decode().strip() if proc.returncode == 0 else None


def _last_line(stderr: bytes) -> str:
    lines = stderr.decode("utf-8", "replace").strip().splitlines()
    return lines[-1] if lines else "git gave no reason"
