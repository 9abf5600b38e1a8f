"""The workspace: a clone of the repository at the investigated commit, plus the edits.

A workspace is a plain git clone with a detached HEAD at ``base_commit``. Everything the
investigation changes (tool edits, files written by commands, even commits a command makes)
is the difference between the working tree and ``base_commit``. :meth:`Workspace.snapshot`
captures that difference as a binary patch, with the journal of mutating calls already
applied; :meth:`Workspace.restore` rebuilds an equal workspace from it anywhere, so the
workspace survives the loss of its sandbox.

Snapshots stage into a temporary index (``GIT_INDEX_FILE``), never into the clone's own
index, so whatever a command staged is left alone. Every git command here is fixloop's own
(:mod:`fixloop.sandbox.git`): nothing a command wrote into ``.git`` runs. Files too large
for a change are left out of it and recorded (:mod:`fixloop.sandbox.changes`).
"""

from __future__ import annotations

import base64
import fnmatch
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pydantic import BaseModel, Field

from fixloop.errors import BadInputError, ToolFailed
from fixloop.sandbox import git as own_git
from fixloop.sandbox.changes import OmittedFile, describe_omitted, omitted_changes
from fixloop.sandbox.git import Git, WorkspaceError, last_line

__all__ = ["AppliedCall", "FileChange", "Snapshot", "Workspace", "WorkspaceError"]

CLONE_TIMEOUT_S = 900
IDENTITY = {"user.name": "fixloop", "user.email": "fixloop@localhost"}
"""The local git identity of a workspace, so a command that commits does not fail."""


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
    omitted: list[OmittedFile] = Field(default_factory=list)
    """New or changed files left out of ``patch`` and ``files`` (too large, binary)."""


@dataclass(frozen=True)
class _Staged:
    """The working tree staged into a temporary index: how to reach it, what it left out."""

    git: Git
    env: dict[str, str]
    omitted: list[OmittedFile]


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
        proc = own_git.clone(source, root, remote, CLONE_TIMEOUT_S)
        if proc.returncode != 0:
            raise BadInputError(f"cannot clone {source}: {last_line(proc.stderr)}")
        git = Git(root)
        sha = _rev_parse(git, commit)
        if sha is None:
            # A commit that no branch or tag reaches may still be fetched by its id.
            git.run(
                ["fetch", "--quiet", "origin", commit],
                config=remote,
                network=True,
                timeout=CLONE_TIMEOUT_S,
            )
            sha = _rev_parse(git, commit)
        if sha is None:
            raise BadInputError(f"commit {commit!r} is not in {source}")
        proc = git.run(["checkout", "--quiet", "--detach", sha])
        if proc.returncode != 0:
            raise BadInputError(f"cannot check out {commit} of {source}: {last_line(proc.stderr)}")
        for key, value in IDENTITY.items():
            git.ok(["config", key, value])
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
            proc = Git(self.root).run(["apply", "--binary", "--whitespace=nowarn", "--", f.name])
        finally:
            os.unlink(f.name)
        if proc.returncode != 0:
            raise BadInputError(
                f"the snapshot's patch does not apply to {self.base_commit[:12]}: "
                f"{last_line(proc.stderr)}"
            )

    # -- state -----------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """The working tree as a binary patch against the base commit, and the journal;
        files too large for a change are left out and listed in ``omitted``."""
        with self._staged_tree() as staged:
            raw = self._diff_cached(staged, binary=True)
            try:
                patch = raw.decode("utf-8")
            except UnicodeDecodeError:
                # A text file in another encoding: encode every file as a binary patch
                # (base85, ASCII) rather than store bytes a JSON string cannot hold.
                patch = self._diff_cached(staged, binary=True, all_binary=True).decode("utf-8")
            files = self._changed_files(staged)
        return Snapshot(
            base_commit=self.base_commit,
            patch=patch,
            applied=dict(self.applied),
            files=files,
            omitted=staged.omitted,
        )

    def _changed_files(self, staged: _Staged) -> list[FileChange]:
        """Each path the staged tree changes against the base, with its staged content."""
        git, env = staged.git, staged.env
        out = git.ok(
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
            entry = git.ok(["ls-files", "-s", "-z", "--", f":(literal){path}"], env=env)
            mode, sha = entry.split(b" ")[:2]
            blob = git.ok(["cat-file", "blob", sha.decode()], env=env)
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
        model: untracked files included, binary files only named ("Binary files ... differ"),
        and after it the files left out of the change, if any.
        """
        with self._staged_tree() as staged:
            raw = self._diff_cached(staged, binary=False)
        text = raw.decode("utf-8", "replace")
        if staged.omitted:
            text += (
                "\nLeft out of the change (not in the snapshot, refused by open_pull_request):\n"
                f"{describe_omitted(staged.omitted)}\n"
            )
        return text

    def record(self, call_key: str, result: AppliedCall) -> None:
        """Journal a mutating call as applied, so it is never applied twice."""
        self.applied[call_key] = result

    def applied_result(self, call_key: str) -> AppliedCall | None:
        return self.applied.get(call_key)

    @contextmanager
    def _staged_tree(self) -> Iterator[_Staged]:
        """Stage the working tree into a temporary index, leaving out files too large for a
        change; yield how to reach it."""
        git = Git(self.root)
        with tempfile.TemporaryDirectory(prefix="fixloop-index-") as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            own_index = self.root / ".git" / "index"
            if own_index.is_file() and not own_index.is_symlink():
                # Start from the clone's index for its cached file stats (no re-hashing of
                # unchanged files); read-tree -m then resets the entries to the base commit.
                shutil.copyfile(own_index, env["GIT_INDEX_FILE"])
            if git.run(["read-tree", "-m", self.base_commit], env=env).returncode:
                Path(env["GIT_INDEX_FILE"]).unlink(missing_ok=True)  # unmerged: start afresh
                git.ok(["read-tree", self.base_commit], env=env)
            omitted = omitted_changes(git, env, self.root)
            specs = [b".", *(b":(exclude,literal)" + os.fsencode(o.path) for o in omitted)]
            pathspecs = Path(tmp) / "pathspecs"
            pathspecs.write_bytes(b"".join(spec + b"\0" for spec in specs))
            add = ["add", "-A", f"--pathspec-from-file={pathspecs}", "--pathspec-file-nul"]
            git.ok(add, env=env)
            yield _Staged(git, env, omitted)

    def _diff_cached(self, staged: _Staged, *, binary: bool, all_binary: bool = False) -> bytes:
        args = [
            "diff",
            "--cached",
            "--no-color",
            "--no-ext-diff",
            "--no-textconv",
            "--ignore-submodules=all",
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
            return staged.git.ok([*args, self.base_commit, "--"], env=staged.env, config=config)

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
        proc = Git(self.root).run(args)
        if proc.returncode != 0:
            raise ToolFailed(f"cannot list files under {under!r}: {last_line(proc.stderr)}")
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


def _rev_parse(git: Git, commit: str) -> str | None:
    proc = git.run(["rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}"])
    return proc.stdout.decode().strip() if proc.returncode == 0 else None
