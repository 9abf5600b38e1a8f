"""Pull requests and their labels (``pulls``, ``issues/{n}/labels``), held in memory.

Drafts as GitHub has them: ``draft`` is taken when a pull request is created (refused with
422 where the repository's plan has no drafts: :attr:`PullRequests.drafts_supported`),
ignored by ``PATCH pulls/{n}`` (not one of its parameters), and changed only through
GraphQL's ``markPullRequestReadyForReview`` / ``convertPullRequestToDraft``
(:mod:`tests.fakes.github.graphql`). Removing a label the pull request does not have is
404 "Label does not exist"."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.fakes.github.protocol import (
    JsonDict,
    Route,
    error,
    iso,
    node_id,
    required,
    validation_failed,
)
from tests.fakes.github.repository import BareRepository
from tests.fakes.github.site import Site

__all__ = ["PullRequestState", "PullRequests"]


@dataclass(frozen=True)
class PullRequestState:
    """A pull request as the server holds it."""

    number: int
    head: str
    base: str
    title: str
    body: str
    state: str
    merged: bool
    labels: tuple[str, ...]
    head_sha: str
    draft: bool
    maintainer_can_modify: bool


@dataclass
class _Pull:
    number: int
    head: str
    base: str
    title: str
    body: str
    head_sha: str
    draft: bool
    maintainer_can_modify: bool
    created_at: datetime
    updated_at: datetime
    state: str = "open"
    merged: bool = False
    closed_at: datetime | None = None
    merged_at: datetime | None = None
    labels: list[str] = field(default_factory=list)


class PullRequests:
    """The repository's pull requests, numbered from 1."""

    def __init__(self, site: Site, repo: BareRepository) -> None:
        self.site = site
        self.repo = repo
        self._pulls: dict[int, _Pull] = {}
        self._labels: dict[str, int] = {}
        self._next_number = 1
        self.drafts_supported = True
        """False: a private repository on GitHub Free (drafts refused with 422)."""

    def routes(self) -> list[Route]:
        return [
            ("GET", r"pulls", self._list_pulls),
            ("POST", r"pulls", self._create_pull),
            ("GET", r"pulls/(\d+)", self._get_pull),
            ("PATCH", r"pulls/(\d+)", self._update_pull),
            ("GET", r"issues/(\d+)/labels", self._get_labels),
            ("POST", r"issues/(\d+)/labels", self._add_labels),
            ("DELETE", r"issues/(\d+)/labels/([^/]+)", self._remove_label),
        ]

    def states(self) -> list[PullRequestState]:
        return [
            PullRequestState(
                number=p.number,
                head=p.head,
                base=p.base,
                title=p.title,
                body=p.body,
                state=p.state,
                merged=p.merged,
                labels=tuple(p.labels),
                head_sha=self._head_sha(p),
                draft=p.draft,
                maintainer_can_modify=p.maintainer_can_modify,
            )
            for p in sorted(self._pulls.values(), key=lambda p: p.number)
        ]

    def close(self, number: int, *, merged: bool) -> None:
        """Close a pull request (as a person would), merged or not."""
        pull = self._pulls[number]
        now = datetime.now(UTC)
        pull.state = "closed"
        pull.closed_at = now
        pull.updated_at = now
        if merged:
            pull.merged = True
            pull.merged_at = now

    # -- JSON --------------------------------------------------------------------------------

    def _head_sha(self, pull: _Pull) -> str:
        head = self.repo.branch_head(pull.head)
        if head is not None and pull.state == "open":
            pull.head_sha = head  # GitHub follows the branch while the pull request is open
        return pull.head_sha

    def _label_json(self, name: str) -> JsonDict:
        label_id = self._labels.setdefault(name, 1000 + len(self._labels))
        return {
            "id": label_id,
            "node_id": node_id("Label", name),
            "url": self.site.api(f"labels/{name}"),
            "name": name,
            "color": "ededed",
            "default": False,
            "description": None,
        }

    def _part_json(self, branch: str, sha: str) -> JsonDict:
        return {
            "label": f"{self.site.owner}:{branch}",
            "ref": branch,
            "sha": sha,
            "user": self.site.user_json(),
            "repo": self.site.repo_json(),
        }

    def _pull_json(self, pull: _Pull) -> JsonDict:
        number = pull.number
        head_sha = self._head_sha(pull)
        base_sha = self.repo.branch_head(pull.base) or ""
        api, html = self.site.api, self.site.html
        return {
            "url": api(f"pulls/{number}"),
            "id": 10_000 + number,
            "node_id": node_id("PullRequest", str(number)),
            "html_url": html(f"pull/{number}"),
            "diff_url": html(f"pull/{number}.diff"),
            "patch_url": html(f"pull/{number}.patch"),
            "issue_url": api(f"issues/{number}"),
            "commits_url": api(f"pulls/{number}/commits"),
            "review_comments_url": api(f"pulls/{number}/comments"),
            "comments_url": api(f"issues/{number}/comments"),
            "statuses_url": api(f"statuses/{head_sha}"),
            "number": number,
            "state": pull.state,
            "locked": False,
            "title": pull.title,
            "user": self.site.user_json(),
            "body": pull.body,
            "labels": [self._label_json(name) for name in pull.labels],
            "milestone": None,
            "active_lock_reason": None,
            "created_at": iso(pull.created_at),
            "updated_at": iso(pull.updated_at),
            "closed_at": iso(pull.closed_at) if pull.closed_at else None,
            "merged_at": iso(pull.merged_at) if pull.merged_at else None,
            "merge_commit_sha": None,
            "assignee": None,
            "assignees": [],
            "requested_reviewers": [],
            "requested_teams": [],
            "head": self._part_json(pull.head, head_sha),
            "base": self._part_json(pull.base, base_sha),
            "author_association": "CONTRIBUTOR",
            "auto_merge": None,
            "draft": pull.draft,
            "merged": pull.merged,
            "mergeable": None,
            "maintainer_can_modify": pull.maintainer_can_modify,
        }

    # -- routes ------------------------------------------------------------------------------

    def _list_pulls(self, _body: Any, query: dict[str, list[str]]) -> tuple[int, Any]:
        state = (query.get("state") or ["open"])[0]
        if state not in ("open", "closed", "all"):
            raise validation_failed("PullRequest", "invalid", field="state")
        head = (query.get("head") or [""])[0]
        base = (query.get("base") or [""])[0]
        pulls = sorted(self._pulls.values(), key=lambda p: p.number, reverse=True)
        if state != "all":
            pulls = [p for p in pulls if p.state == state]
        if head:
            owner, _, branch = head.rpartition(":")
            if owner and owner.lower() != self.site.owner.lower():
                pulls = []
            pulls = [p for p in pulls if p.head == branch]
        if base:
            pulls = [p for p in pulls if p.base == base]
        per_page = int((query.get("per_page") or ["30"])[0])
        page = int((query.get("page") or ["1"])[0])
        selected = pulls[(page - 1) * per_page : page * per_page]
        return 200, [self._pull_json(p) for p in selected]

    def _find_open(self, head: str, base: str) -> _Pull | None:
        for pull in self._pulls.values():
            if pull.state == "open" and pull.head == head and pull.base == base:
                return pull
        return None

    def _create_pull(self, body: Any, _query: Any) -> tuple[int, Any]:
        head, base = required(body, "head", str), required(body, "base", str)
        owner, _, branch = head.rpartition(":")
        if owner and owner.lower() != self.site.owner.lower():
            raise validation_failed("PullRequest", "invalid", field="head")
        head_sha, base_sha = self.repo.branch_head(branch), self.repo.branch_head(base)
        if head_sha is None:
            raise validation_failed("PullRequest", "invalid", field="head")
        if base_sha is None:
            raise validation_failed("PullRequest", "invalid", field="base")
        if self._find_open(branch, base) is not None:
            raise validation_failed(
                "PullRequest",
                "custom",
                f"A pull request already exists for {self.site.owner}:{branch}.",
            )
        if body.get("draft") and not self.drafts_supported:
            raise validation_failed(
                "PullRequest", "custom", "Draft pull requests are not supported in this repository."
            )
        if int(self.repo.git("rev-list", "--count", head_sha, f"^{base_sha}").decode()) == 0:
            raise validation_failed(
                "PullRequest", "custom", f"No commits between {base} and {branch}"
            )
        now = datetime.now(UTC)
        pull = _Pull(
            number=self._next_number,
            head=branch,
            base=base,
            title=str(body.get("title") or ""),
            body=str(body.get("body") or ""),
            head_sha=head_sha,
            draft=bool(body.get("draft", False)),
            maintainer_can_modify=bool(body.get("maintainer_can_modify", False)),
            created_at=now,
            updated_at=now,
        )
        self._pulls[pull.number] = pull
        self._next_number += 1
        return 201, self._pull_json(pull)

    def _pull(self, number: str) -> _Pull:
        pull = self._pulls.get(int(number))
        if pull is None:
            raise error(404, "Not Found")
        return pull

    def _get_pull(self, _body: Any, _query: Any, number: str) -> tuple[int, Any]:
        return 200, self._pull_json(self._pull(number))

    def _update_pull(self, body: Any, _query: Any, number: str) -> tuple[int, Any]:
        pull = self._pull(number)
        if not isinstance(body, dict):
            raise error(400, "Problems parsing JSON")
        state = body.get("state")
        if state is not None and state not in ("open", "closed"):
            raise validation_failed("PullRequest", "invalid", field="state")
        if state == "open" and pull.state == "closed":
            self._check_reopen(pull)
        now = datetime.now(UTC)
        if "title" in body:
            pull.title = str(body["title"] or "")
        if "body" in body:
            pull.body = str(body["body"] or "")
        if "maintainer_can_modify" in body:
            pull.maintainer_can_modify = bool(body["maintainer_can_modify"])
        if state == "closed" and pull.state == "open":
            pull.state, pull.closed_at = "closed", now
        elif state == "open" and pull.state == "closed":
            pull.state, pull.closed_at = "open", None
        pull.updated_at = now
        return 200, self._pull_json(pull)

    def _check_reopen(self, pull: _Pull) -> None:
        """GitHub's refusals to reopen a closed pull request."""
        if pull.merged:
            raise validation_failed(
                "PullRequest", "custom", "state cannot be changed. The pull request is merged."
            )
        if self.repo.branch_head(pull.head) is None:
            raise validation_failed(
                "PullRequest",
                "custom",
                f"state cannot be changed. The {pull.head} branch has been deleted.",
            )
        if self._find_open(pull.head, pull.base) is not None:
            raise validation_failed(
                "PullRequest",
                "custom",
                f"A pull request already exists for {self.site.owner}:{pull.head}.",
            )

    def number_of(self, pull_node_id: str) -> int | None:
        """The pull request a GraphQL node id names, if any."""
        for number in self._pulls:
            if node_id("PullRequest", str(number)) == pull_node_id:
                return number
        return None

    def set_draft(self, number: int, draft: bool) -> None:
        """GraphQL's ready-for-review and convert-to-draft mutations."""
        pull = self._pulls[number]
        if draft and not self.drafts_supported:
            raise ValueError("Draft pull requests are not supported in this repository.")
        if pull.state != "open":
            raise ValueError("Pull request is closed")
        pull.draft = draft
        pull.updated_at = datetime.now(UTC)

    def _get_labels(self, _body: Any, _query: Any, number: str) -> tuple[int, Any]:
        return 200, [self._label_json(name) for name in self._pull(number).labels]

    def _add_labels(self, body: Any, _query: Any, number: str) -> tuple[int, Any]:
        pull = self._pull(number)
        names = body.get("labels") if isinstance(body, dict) else body
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise validation_failed("Label", "invalid", field="labels")
        for name in names:
            if name not in pull.labels:
                pull.labels.append(name)
        pull.updated_at = datetime.now(UTC)
        return 200, [self._label_json(name) for name in pull.labels]

    def _remove_label(self, _body: Any, _query: Any, number: str, name: str) -> tuple[int, Any]:
        pull = self._pull(number)
        if name not in pull.labels:
            raise error(404, "Label does not exist")
        pull.labels.remove(name)
        pull.updated_at = datetime.now(UTC)
        return 200, [self._label_json(label) for label in pull.labels]
