"""The bare git repository behind the local GitHub API, driven by git's plumbing commands,
so objects and SHAs are git's own."""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from fixloop.sandbox.git import git_env
from tests.fakes.github.protocol import JsonDict, error, iso

__all__ = ["SHA", "ZERO_SHA", "BareRepository", "GitFailed"]

ZERO_SHA = "0" * 40
SHA = re.compile(r"^[0-9a-f]{40}$")


class GitFailed(Exception):
    """A git command the server needed failed (the server answers 500)."""


class BareRepository:
    """A bare repository at ``git_dir``."""

    def __init__(self, git_dir: Path) -> None:
        self.git_dir = git_dir

    @classmethod
    def clone(cls, source: str | Path, git_dir: Path) -> BareRepository:
        """``git clone --bare source git_dir``."""
        proc = subprocess.run(
            ["git", "clone", "--quiet", "--bare", "--", str(source), str(git_dir)],
            capture_output=True,
            env=_git_env(),
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"cannot clone {source}: {proc.stderr.decode().strip()}")
        return cls(git_dir)

    def run(
        self, args: list[str], *, input: bytes | None = None, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            ["git", "--git-dir", str(self.git_dir), *args],
            input=input if input is not None else b"",
            capture_output=True,
            env={**_git_env(), **(env or {})},
            check=False,
        )

    def git(
        self, *args: str, input: bytes | None = None, env: Mapping[str, str] | None = None
    ) -> bytes:
        """A git command's output; :class:`GitFailed` when it fails."""
        proc = self.run(list(args), input=input, env=env)
        if proc.returncode != 0:
            raise GitFailed(f"git {' '.join(args)}: {proc.stderr.decode().strip()}")
        return proc.stdout

    def head_branch(self) -> str:
        """The branch HEAD names: the default branch."""
        return self.git("symbolic-ref", "--short", "HEAD").decode().strip()

    def branch_head(self, name: str) -> str | None:
        proc = self.run(["rev-parse", "--verify", "--quiet", f"refs/heads/{name}"])
        return proc.stdout.decode().strip() if proc.returncode == 0 else None

    def resolve(self, ref: str) -> str:
        """A branch's head, or ``ref`` itself (a SHA)."""
        return self.branch_head(ref) or ref

    def object_type(self, sha: str) -> str | None:
        if not SHA.match(sha):
            return None
        proc = self.run(["cat-file", "-t", sha])
        return proc.stdout.decode().strip() if proc.returncode == 0 else None

    def is_commit(self, sha: str) -> bool:
        return self.object_type(sha) == "commit"

    def write_blob(self, data: bytes) -> str:
        return self.git("hash-object", "-w", "--stdin", input=data).decode().strip()

    def commit_tree_sha(self, commit: str) -> str:
        return self.git("rev-parse", f"{commit}^{{tree}}").decode().strip()

    def build_tree(self, base_tree: str | None, entries: list[JsonDict]) -> str:
        """A tree: ``base_tree`` with ``entries`` (sha None removes a path), via a
        temporary index."""
        with tempfile.TemporaryDirectory(prefix="fixloop-gh-index-") as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            if base_tree:
                self.git("read-tree", base_tree, env=env)
            else:
                self.git("read-tree", "--empty", env=env)
            removed = [e["path"] for e in entries if e["sha"] is None]
            added = [f"{e['mode']},{e['sha']},{e['path']}" for e in entries if e["sha"] is not None]
            if removed:  # --force-remove wants a work tree; mode 0 removes in a bare repo
                records = "".join(f"0 {ZERO_SHA}\t{path}\0" for path in removed)
                self.git("update-index", "-z", "--index-info", input=records.encode(), env=env)
            if added:
                args = [arg for info in added for arg in ("--cacheinfo", info)]
                self.git("update-index", "--add", *args, env=env)
            return self.git("write-tree", env=env).decode().strip()

    def commit_tree(
        self,
        tree: str,
        parents: list[str],
        message: str,
        author: Mapping[str, Any],
        committer: Mapping[str, Any],
    ) -> str:
        """Write a commit object (identities as GitHub gives them: name, email, ISO date)."""
        env = {
            "GIT_AUTHOR_NAME": str(author["name"]),
            "GIT_AUTHOR_EMAIL": str(author["email"]),
            "GIT_AUTHOR_DATE": _git_date(str(author["date"])),
            "GIT_COMMITTER_NAME": str(committer["name"]),
            "GIT_COMMITTER_EMAIL": str(committer["email"]),
            "GIT_COMMITTER_DATE": _git_date(str(committer["date"])),
        }
        args = ["commit-tree", tree]
        for parent in parents:
            args += ["-p", parent]
        return self.git(*args, input=message.encode(), env=env).decode().strip()

    def parse_commit(self, sha: str) -> JsonDict:
        """A commit's tree, parents, message, and author and committer as GitHub shows them."""
        raw = self.git("cat-file", "commit", sha).decode("utf-8", "replace")
        header, _, message = raw.partition("\n\n")
        parsed: JsonDict = {"parents": [], "message": message}
        for line in header.splitlines():
            key, _, value = line.partition(" ")
            if key == "tree":
                parsed["tree"] = value
            elif key == "parent":
                parsed["parents"].append(value)
            elif key in ("author", "committer"):
                parsed[key] = _identity(value)
        return parsed


def _identity(value: str) -> JsonDict:
    match = re.fullmatch(r"(.*) <(.*)> (\d+) ([+-]\d{4})", value)
    if not match:
        return {"name": value, "email": "", "date": iso(datetime.now(UTC))}
    name, email, epoch, offset = match.groups()
    sign = -1 if offset[0] == "-" else 1
    zone = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5])))
    return {"name": name, "email": email, "date": iso(datetime.fromtimestamp(int(epoch), zone))}


def _git_date(value: str) -> str:
    """An ISO 8601 date as git's internal format ``EPOCH +HHMM``."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise error(422, f"Invalid date {value!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    offset = moment.utcoffset() or timedelta()
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{int(moment.timestamp())} {sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"


def _git_env() -> dict[str, str]:
    return git_env()
