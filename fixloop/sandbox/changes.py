"""Which of the working tree's changes a snapshot takes, and which it leaves out.

A command can write anything into the workspace: a 30 MB data dump, a build output, a core
file. Those would make every snapshot (saved after each mutating call), the pull request and
the memory of whoever reads them large. So a new or changed file is left out of the change
when it is a binary file over :data:`SNAPSHOT_BINARY_FILE_BYTES`, a text file over
:data:`SNAPSHOT_TEXT_FILE_BYTES`, or when the change already holds
:data:`SNAPSHOT_TOTAL_BYTES`. What was left out is recorded in the snapshot
(:class:`OmittedFile`), shown by ``git_diff``, and refused at ``open_pull_request`` with a
message the model can act on. Deletions and symbolic links are always taken.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from fixloop.sandbox.git import Git
from fixloop.sandbox.limits import (
    SNAPSHOT_BINARY_FILE_BYTES,
    SNAPSHOT_TEXT_FILE_BYTES,
    SNAPSHOT_TOTAL_BYTES,
    megabytes,
)

__all__ = ["OmittedFile", "describe_omitted", "omitted_changes"]

BINARY_SNIFF_BYTES = 8_000
"""Like git: a NUL byte in the first 8,000 bytes makes a file binary."""


class OmittedFile(BaseModel):
    """A new or changed file the snapshot (and so the pull request) does not carry."""

    path: str
    size: int
    reason: Literal["binary", "large", "total"]
    tracked: bool
    """The file is in the investigated commit (it was changed, not created)."""

    def describe(self) -> str:
        size = megabytes(self.size)
        what = {
            "binary": f"a {size} binary file (binary files over "
            f"{megabytes(SNAPSHOT_BINARY_FILE_BYTES)} are left out)",
            "large": f"a {size} text file (over the {megabytes(SNAPSHOT_TEXT_FILE_BYTES)} "
            "limit per file)",
            "total": f"{size} past the {megabytes(SNAPSHOT_TOTAL_BYTES)} a change may hold",
        }[self.reason]
        fix = (
            f"restore it (git checkout -- {self.path})"
            if self.tracked
            else "remove it or add it to .gitignore"
        )
        return f"{self.path} is {what}: {fix}"


def describe_omitted(omitted: list[OmittedFile]) -> str:
    """One line per file left out, for the model."""
    return "\n".join(f"- {o.describe()}" for o in omitted)


def omitted_changes(git: Git, env: dict[str, str], root: Path) -> list[OmittedFile]:
    """The new and changed files of the working tree that stay out of the change.

    ``env`` points git at an index holding the base commit (``GIT_INDEX_FILE``); it is
    refreshed, so a file whose stat changed but whose content did not is not a change.
    """
    git.run(["update-index", "-q", "--refresh"], env=env)  # 1 when files changed: expected
    changed = _names(git.ok(["diff-files", "-z", "--name-only"], env=env))
    new = _names(git.ok(["ls-files", "-z", "--others", "--exclude-standard"], env=env))
    candidates = sorted([(p, True) for p in changed] + [(p, False) for p in new])
    omitted: list[OmittedFile] = []
    total = 0
    for path, tracked in candidates:
        full = root / path
        try:
            st = full.lstat()
        except FileNotFoundError:
            continue  # deleted: a deletion carries no content
        if not stat.S_ISREG(st.st_mode):
            continue  # a symbolic link (its target's name); git skips fifos and sockets
        size = st.st_size
        reason: Literal["binary", "large", "total"] | None = None
        if size > SNAPSHOT_TEXT_FILE_BYTES:
            reason = "binary" if _is_binary(full) else "large"
        elif size > SNAPSHOT_BINARY_FILE_BYTES and _is_binary(full):
            reason = "binary"
        elif total + size > SNAPSHOT_TOTAL_BYTES:
            reason = "total"
        if reason is None:
            total += size
        else:
            omitted.append(OmittedFile(path=path, size=size, reason=reason, tracked=tracked))
    return omitted


def _names(out: bytes) -> list[str]:
    return [n for n in out.decode("utf-8", "surrogateescape").split("\0") if n]


def _is_binary(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return b"\0" in f.read(BINARY_SNIFF_BYTES)
    except OSError:
        return True  # unreadable: leave it out rather than fail the snapshot
