"""A local git repository as the code host: branch and commit in the repository itself, the
pull request recorded beside it (``.git/fixloop/pull-requests/<number>.json``).

A pull request is merged when its head is in its target branch (a merge commit or a
fast-forward: :meth:`LocalGitCodeHost.merge_of`); once recorded as merged, the next delivery
of the same investigation opens a new pull request, as on GitHub.

Used by the embedded runtime unless GitHub is configured. The user's working tree, index
and current branch are never touched: the commit is built with git plumbing on a temporary
index and the branch ref is moved with ``update-ref``. git runs as fixloop's own
(:mod:`fixloop.sandbox.git`): nothing in the repository's configuration runs.
"""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel

from fixloop.delivery.protocol import DeliveryError, PullRequestDraft
from fixloop.domain import PullRequestRef
from fixloop.sandbox.git import Git


class LocalPullRequest(BaseModel):
    number: int
    investigation_id: str
    title: str
    body: str
    branch: str
    base: str
    base_commit: str
    head_sha: str
    labels: list[str]
    draft: bool = False
    state: str = "open"
    """``open`` or ``merged``."""
    merge_commit: str = ""


class LocalMerge(BaseModel):
    """Where a pull request's head entered its target branch."""

    commit: str
    """The merge commit, or the head itself when the branch was fast-forwarded."""
    at: datetime
    """That commit's committer date."""
    by: str


class LocalGitCodeHost:
    name = "local"

    def __init__(self, repo: Path) -> None:
        self.repo = repo.resolve()

    @property
    def records(self) -> Path:
        return (
            Path(self._git("rev-parse", "--absolute-git-dir").strip()) / "fixloop" / "pull-requests"
        )

    def deliver(self, draft: PullRequestDraft) -> PullRequestRef:
        head = self._commit(draft)
        self._git("update-ref", f"refs/heads/{draft.branch}", head)
        existing = self.find(draft.investigation_id)
        number = existing.number if existing else self._next_number()
        base = self._base_branch()
        record = LocalPullRequest(
            number=number,
            investigation_id=draft.investigation_id,
            title=draft.title,
            body=draft.body,
            branch=draft.branch,
            base=base,
            base_commit=draft.base_commit,
            head_sha=head,
            labels=sorted(set(draft.labels)),
            draft=draft.draft,
        )
        self._write(record)
        return PullRequestRef(
            number=number,
            url=f"file://{self.repo}#{draft.branch}",
            branch=draft.branch,
            head_sha=head,
            base=base,
            created=existing is None,
        )

    def find(self, investigation_id: str) -> LocalPullRequest | None:
        """The investigation's pull request that is not merged yet."""
        for pr in self.pulls():
            if pr.investigation_id == investigation_id and pr.state != "merged":
                return pr
        return None

    def pull(self, number: int) -> LocalPullRequest | None:
        path = self.records / f"{number}.json"
        return LocalPullRequest.model_validate_json(path.read_text()) if path.is_file() else None

    def merge_of(self, pr: LocalPullRequest) -> LocalMerge | None:
        """Whether ``pr``'s head is in its target branch, and the commit that brought it there
        (the oldest of the target's first-parent line that contains it)."""
        base = f"refs/heads/{pr.base}"
        if not self._git("rev-parse", "--verify", "--quiet", base, check=False).strip():
            return None
        if (
            Git(self.repo, workspace=False)
            .run(["merge-base", "--is-ancestor", pr.head_sha, base])
            .returncode
        ):
            return None
        line = self._git(
            "rev-list", "--first-parent", "--ancestry-path", f"{pr.head_sha}..{base}"
        ).split()
        commit = pr.head_sha
        if line and self._git("rev-parse", f"{line[-1]}^1").strip() != pr.head_sha:
            commit = line[-1]  # a merge commit (else: fast-forwarded, the head itself)
        shown = self._git("show", "-s", "--format=%cI%x00%cn", commit).strip()
        when, _, who = shown.partition("\0")
        return LocalMerge(commit=commit, at=datetime.fromisoformat(when), by=who or "git")

    def mark_merged(self, number: int, commit: str) -> None:
        """Record pull request ``number`` as merged (a later delivery opens a new one)."""
        pr = self.pull(number)
        if pr is None or pr.state == "merged":
            return
        self._write(pr.model_copy(update={"state": "merged", "merge_commit": commit}))

    def pulls(self) -> list[LocalPullRequest]:
        if not self.records.is_dir():
            return []
        found = [
            LocalPullRequest.model_validate_json(p.read_text()) for p in self.records.glob("*.json")
        ]
        return sorted(found, key=lambda pr: pr.number)

    def _write(self, record: LocalPullRequest) -> None:
        self.records.mkdir(parents=True, exist_ok=True)
        path = self.records / f"{record.number}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(record.model_dump_json(indent=2))
        tmp.replace(path)  # atomic: a crash leaves the old record or the new one

    def _commit(self, draft: PullRequestDraft) -> str:
        """The commit of the change on the base: the same draft gives the same SHA, and an
        unchanged change on an existing branch reuses its head."""
        if self._git("cat-file", "-t", draft.base_commit, check=False).strip() != "commit":
            raise DeliveryError(
                f"commit {draft.base_commit[:12]} is not in {self.repo}: was the history rewritten?"
            )
        with tempfile.TemporaryDirectory(prefix="fixloop-deliver-") as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            self._git("read-tree", draft.base_commit, env=env)
            if draft.patch:
                patch = Path(tmp) / "change.patch"
                patch.write_text(draft.patch)
                self._git("apply", "--cached", "--binary", str(patch), env=env)
            tree = self._git("write-tree", env=env).strip()
        current = self._git(
            "rev-parse", "--verify", "--quiet", f"refs/heads/{draft.branch}", check=False
        ).strip()
        if current:
            current_tree = self._git("rev-parse", f"{current}^{{tree}}").strip()
            if current_tree == tree:
                return current  # nothing new: no second commit
        parent = current or draft.base_commit
        date = draft.authored_at.isoformat()
        env = {
            "GIT_AUTHOR_NAME": draft.author_name,
            "GIT_AUTHOR_EMAIL": draft.author_email,
            "GIT_AUTHOR_DATE": date,
            "GIT_COMMITTER_NAME": draft.author_name,
            "GIT_COMMITTER_EMAIL": draft.author_email,
            "GIT_COMMITTER_DATE": date,
        }
        return self._git(
            "commit-tree", tree, "-p", parent, "-m", draft.commit_message, env=env
        ).strip()

    def _base_branch(self) -> str:
        ref = self._git("symbolic-ref", "--quiet", "--short", "HEAD", check=False).strip()
        return ref or "HEAD"

    def _next_number(self) -> int:
        return max((pr.number for pr in self.pulls()), default=0) + 1

    def _git(self, *args: str, env: dict[str, str] | None = None, check: bool = True) -> str:
        proc = Git(self.repo, workspace=False).run(list(args), env=env)
        if check and proc.returncode != 0:
            reason = proc.stderr.decode("utf-8", "replace").strip()
            raise DeliveryError(f"git {args[0]} failed in {self.repo}: {reason}")
        return proc.stdout.decode("utf-8", "replace")
