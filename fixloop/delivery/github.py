"""GitHub as the code host, through PyGithub: one branch, one commit and one pull request per
investigation.

A delivery is a sequence of steps that are each safe to repeat, so a delivery that died
anywhere (a lost response, a Lambda timeout) converges when the state machine runs it again:

1. ``GET /repos/{o}/{r}``: the default branch is the pull request's base.
2. ``GET git/commits/{base_commit}``: the investigated commit and its tree (404: the base was
   force-pushed away or never pushed, and nothing is written).
3. ``GET branches/{default}``: has the base branch moved since? Then the body says so.
4. ``POST git/blobs`` per changed file and ``POST git/trees`` on the base commit's tree
   (content-addressed: the same change gives the same SHAs every time).
5. ``GET git/ref/heads/{branch}`` (+ ``GET git/commits/{head}``): a branch whose head commit
   already has this tree and the parents ``[base_commit]`` is reused as is; otherwise
   ``POST git/commits`` with the draft's fixed author and committer date, which makes a
   retried request write the very same commit object (same SHA).
6. ``POST git/refs`` or ``PATCH git/refs/heads/{branch}`` (forced only for fixloop's own
   ``fixloop/`` branches: a new change replaces the previous commit on the base).
7. ``GET pulls?head={owner}:{branch}&state=all``: an open pull request is updated, a closed
   and unmerged one reopened and updated, otherwise one is created (a draft for an
   unverified fix; an ordinary one where the repository's plan has no drafts); an existing
   one is marked ready for review or converted to a draft to match the change (GraphQL
   ``markPullRequestReadyForReview`` / ``convertPullRequestToDraft``: the REST API cannot);
   then missing labels are added, and ``unverified`` removed from a verified change. A
   "Reference already exists" or "A pull request already exists" answer (a retried
   request whose first response was lost) falls back to the update path.

Errors: every GitHub error becomes a :class:`~fixloop.delivery.protocol.DeliveryError` whose
message says what to fix (credentials, permissions, a missing repository or commit, branch
protection), or a :class:`~fixloop.errors.TransientError` (5xx, connection errors, rate limits
that outlast the waits below) that the state machine retries with backoff.

Rate limits (https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api and
.../best-practices-for-using-the-rest-api) are handled inside each request by
:class:`DeliveryRetry`, PyGithub's ``GithubRetry`` with bounded, injectable waits:

- primary limit (403/429, ``x-ratelimit-remaining: 0``, "API rate limit exceeded"): wait until
  ``x-ratelimit-reset`` (plus one second), then retry;
- secondary limit: wait ``retry-after`` seconds when the header is there; otherwise at least a
  minute (``secondary_rate_wait``), growing exponentially on repeated failures
  (``backoff_factor``); after ``total`` retries give up;
- a wait longer than ``max_rate_limit_wait`` is not waited in the Lambda: the request fails
  with a TransientError and the state machine retries the delivery later;
- mutating requests are spaced (``seconds_between_writes``, one second by default), as GitHub
  asks of integrations, and requests are made one at a time.
"""

from __future__ import annotations

import base64
import contextlib
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC
from typing import Any, Self

import requests
from aws_lambda_powertools import Logger
from github import Auth, Github, GithubException, GithubRetry, InputGitAuthor, InputGitTreeElement
from github.GitCommit import GitCommit
from github.GithubException import (
    BadCredentialsException,
    RateLimitExceededExceedsMaxWait,
    RateLimitExceededException,
    UnknownObjectException,
)
from github.GithubObject import NotSet
from github.GitRef import GitRef
from github.GitTree import GitTree
from github.PullRequest import PullRequest
from github.Repository import Repository
from urllib3 import Retry
from urllib3.connectionpool import ConnectionPool
from urllib3.response import BaseHTTPResponse

from fixloop.delivery.protocol import UNVERIFIED_LABEL, DeliveryError, PullRequestDraft
from fixloop.domain import PullRequestRef
from fixloop.errors import TransientError

__all__ = ["DeliveryRetry", "GitHubCodeHost"]

logger = Logger(child=True)

OWN_BRANCH_PREFIX = "fixloop/"
"""Branches fixloop owns and may force-update; any other branch is only fast-forwarded."""
PERMISSIONS_HINT = (
    "give the token or GitHub App contents: write and pull requests: write on {repo} "
    "(a classic personal access token needs the repo scope)"
)
_REPO_NAME = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


class DeliveryRetry(GithubRetry):
    """PyGithub's ``GithubRetry`` with waits that are bounded and can be swapped for tests.

    What ``GithubRetry`` does (urllib3 ``Retry`` underneath): it retries 5xx answers,
    connection errors and 403 answers that are rate limits. For a 403 with ``retry-after``
    it waits that long (urllib3's ``Retry.sleep``). Without it, it reads the body: "API rate
    limit exceeded" (primary) waits until ``x-ratelimit-reset`` + 1 s; a secondary limit
    message waits ``secondary_rate_wait``; either raises ``RateLimitExceededExceedsMaxWait``
    when the wait would exceed ``max_rate_limit_wait``, and never waits less than urllib3's
    exponential backoff (``backoff_factor * 2 ** (n - 1)``). Any other 403 is raised at once.

    What this class adds: 429 answers are rate limits too (GitHub sends 403 or 429): with
    ``retry-after`` that is waited, else until the reset when ``x-ratelimit-remaining`` is 0,
    else ``secondary_rate_wait``. A ``retry-after`` above ``max_rate_limit_wait`` raises
    instead of waiting. PATCH is retried as well as GET and POST (fixloop's PATCHes set a ref
    to a given SHA or a pull request to given fields: repeating them is harmless). Every wait
    goes through ``sleep`` (``time.sleep`` by default), so tests can record the waits instead
    of sleeping them.
    """

    def __init__(
        self,
        total: int = 5,
        *,
        backoff_factor: float = 1.0,
        secondary_rate_wait: float = 60.0,
        max_rate_limit_wait: float | None = 60.0,
        sleep: Callable[[float], None] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("status_forcelist", [*range(500, 600), 429])
        kwargs.setdefault(
            "allowed_methods", Retry.DEFAULT_ALLOWED_METHODS | {"GET", "POST", "PATCH"}
        )
        super().__init__(
            secondary_rate_wait=secondary_rate_wait,
            max_rate_limit_wait=max_rate_limit_wait,
            total=total,
            backoff_factor=backoff_factor,
            **kwargs,
        )
        self.sleep_function: Callable[[float], None] = sleep or time.sleep
        self.rate_limit_wait = 0.0
        """The wait a 429 without retry-after asked for (set on the next retry object)."""

    def new(self, **kw: Any) -> Self:
        kw.setdefault("sleep", self.sleep_function)
        return super().new(**kw)

    def increment(  # type: ignore[override]
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: Any = None,
    ) -> Retry:
        retry = super().increment(method, url, response, error, _pool, _stacktrace)  # type: ignore[arg-type]
        if (
            response is not None
            and response.status == 429
            and "Retry-After" not in response.headers
            and isinstance(retry, DeliveryRetry)
        ):
            wait = self.secondary_rate_wait
            reset = response.headers.get("X-RateLimit-Reset", "")
            if response.headers.get("X-RateLimit-Remaining") == "0" and reset.isdigit():
                wait = max(int(reset) - time.time(), 0) + 1
            if self.max_rate_limit_wait is not None and wait > self.max_rate_limit_wait:
                raise RateLimitExceededExceedsMaxWait(
                    429, {"message": "rate limited (429)"}, dict(response.headers), wait=wait
                )
            retry.rate_limit_wait = wait
        return retry

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        wait: float | None = None
        if self.respect_retry_after_header and response is not None:
            wait = self.get_retry_after(response) or None
            if (
                wait is not None
                and self.max_rate_limit_wait is not None
                and wait > self.max_rate_limit_wait
            ):
                raise RateLimitExceededExceedsMaxWait(
                    response.status,
                    {"message": f"retry-after {wait:.0f}s exceeds the wait fixloop allows"},
                    dict(response.headers),
                    wait=wait,
                )
        if wait is None:
            wait = max(self.get_backoff_time(), self.rate_limit_wait)
        if wait > 0:
            self.sleep_function(wait)


class GitHubCodeHost:
    """Delivers drafts to one GitHub repository (``OWNER/REPO``) with PyGithub."""

    name = "github"

    def __init__(
        self,
        repo_full_name: str,
        auth: Auth.Auth,
        *,
        base_url: str = "https://api.github.com",
        retry: GithubRetry | None = None,
        timeout: int = 20,
        seconds_between_requests: float | None = 0.25,
        seconds_between_writes: float | None = 1.0,
    ) -> None:
        """``retry`` defaults to :class:`DeliveryRetry` (pass ``GithubRetry(total=0)`` to
        disable retries). The spacing of requests follows PyGithub's defaults, which
        follow GitHub's advice to integrations; tests pass None."""
        if not _REPO_NAME.match(repo_full_name):
            raise DeliveryError(f"{repo_full_name!r} is not a GitHub repository name (OWNER/REPO)")
        self.repo_full_name = repo_full_name
        self.base_url = base_url
        self._github = Github(
            auth=auth,
            base_url=base_url,
            retry=retry if retry is not None else DeliveryRetry(),
            timeout=timeout,
            seconds_between_requests=seconds_between_requests,
            seconds_between_writes=seconds_between_writes,
            per_page=100,
        )

    def close(self) -> None:
        self._github.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- delivery --------------------------------------------------------------------------

    def deliver(self, draft: PullRequestDraft) -> PullRequestRef:
        repo = self._repository()
        default = repo.default_branch
        if draft.branch == default:
            raise DeliveryError(
                f"refusing to deliver to {default}, the default branch of {self.repo_full_name}:"
                " fixes go to their own branch and a pull request"
            )
        base = self._base_commit(repo, draft.base_commit)
        with self._translating(f"reading branch {default}"):
            base_head = repo.get_branch(default).commit.sha
        tree = self._tree(repo, base, draft)
        if tree.sha == base.tree.sha:
            raise DeliveryError(
                f"the change leaves {base.sha[:12]} as it is: there is nothing to deliver"
            )
        ref = self._branch_ref(repo, draft.branch)
        head = self._commit(repo, base, tree, draft, ref)
        self._point_branch(repo, draft.branch, head, ref)
        body = draft.body
        if base_head != base.sha:
            body += (
                f"\n\n> This change is based on {base.sha[:12]}; the base branch "
                f"{default} has moved since (now at {base_head[:12]})."
            )
        pull, created = self._pull_request(repo, draft, default, body)
        self._set_draft(pull, draft.draft)
        self._label(pull, draft.labels)
        return PullRequestRef(
            number=pull.number,
            url=pull.html_url,
            branch=draft.branch,
            head_sha=head,
            base=default,
            created=created,
        )

    # -- steps -----------------------------------------------------------------------------

    def _repository(self) -> Repository:
        missing = (
            f"repository {self.repo_full_name} does not exist or these credentials cannot see "
            "it: check the repository name, and that the token (or the GitHub App "
            "installation) has access to it"
        )
        with self._translating("reading the repository", not_found=missing):
            return self._github.get_repo(self.repo_full_name)

    def _base_commit(self, repo: Repository, sha: str) -> GitCommit:
        missing = (
            f"commit {sha} is not in {self.repo_full_name} (was the base force-pushed?): "
            "push the investigated commit to GitHub, or investigate again at a commit "
            "GitHub has"
        )
        with self._translating(f"reading commit {sha[:12]}", not_found=missing, invalid=missing):
            return repo.get_git_commit(sha)

    def _tree(self, repo: Repository, base: GitCommit, draft: PullRequestDraft) -> GitTree:
        elements: list[InputGitTreeElement] = []
        for change in draft.files:
            if change.content_b64 is None:
                elements.append(InputGitTreeElement(change.path, change.mode, "blob", sha=None))
                continue
            content = base64.b64encode(base64.b64decode(change.content_b64)).decode()
            with self._translating(f"uploading {change.path}"):
                blob = repo.create_git_blob(content, "base64")
            elements.append(InputGitTreeElement(change.path, change.mode, "blob", sha=blob.sha))
        with self._translating("writing the tree of the change"):
            return repo.create_git_tree(elements, base.tree)

    def _commit(
        self,
        repo: Repository,
        base: GitCommit,
        tree: GitTree,
        draft: PullRequestDraft,
        ref: GitRef | None,
    ) -> str:
        if ref is not None:
            with self._translating(f"reading the head of {draft.branch}"):
                current = repo.get_git_commit(ref.object.sha)
                parents = [p.sha for p in current.parents]
                if current.tree.sha == tree.sha and parents == [base.sha]:
                    return current.sha  # this change is already committed: reuse it
        date = draft.authored_at
        if date.tzinfo is None:
            date = date.replace(tzinfo=UTC)
        stamp = date.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        identity = InputGitAuthor(draft.author_name, draft.author_email, stamp)
        with self._translating("writing the commit"):
            return repo.create_git_commit(
                draft.commit_message, tree, [base], author=identity, committer=identity
            ).sha

    def _branch_ref(self, repo: Repository, branch: str) -> GitRef | None:
        try:
            with self._translating(f"reading branch {branch}"):
                return repo.get_git_ref(f"heads/{branch}")
        except DeliveryError as exc:
            if isinstance(exc.__cause__, UnknownObjectException):
                return None
            raise

    def _point_branch(self, repo: Repository, branch: str, sha: str, ref: GitRef | None) -> None:
        if ref is None:
            try:
                with self._translating(f"creating branch {branch}", branch=branch):
                    repo.create_git_ref(f"refs/heads/{branch}", sha)
                return
            except DeliveryError as exc:
                if not _says(exc.__cause__, "reference already exists"):
                    raise
            ref = self._branch_ref(repo, branch)  # created meanwhile (a lost response)
            if ref is None:
                raise TransientError(f"branch {branch} exists and does not: GitHub is settling")
        if ref.object.sha == sha:
            return
        force = branch.startswith(OWN_BRANCH_PREFIX)
        try:
            with self._translating(f"updating branch {branch}", branch=branch):
                ref.edit(sha, force=force)
        except DeliveryError as exc:
            if _says(exc.__cause__, "not a fast forward"):
                raise DeliveryError(
                    f"branch {branch} in {self.repo_full_name} cannot be fast-forwarded to the "
                    f"new commit, and fixloop force-updates only its own {OWN_BRANCH_PREFIX}* "
                    f"branches: deliver to a {OWN_BRANCH_PREFIX} branch, or delete {branch}"
                ) from exc.__cause__
            raise

    def _find_pull(self, repo: Repository, branch: str) -> PullRequest | None:
        """The investigation's pull request: an open one, else the latest closed unmerged
        one (to reopen); None when there is none or every one was merged."""
        head = f"{repo.owner.login}:{branch}"
        with self._translating(f"listing the pull requests of {branch}"):
            pulls = list(repo.get_pulls(state="all", head=head))
        pulls = [p for p in pulls if p.head.ref == branch]
        for pull in pulls:
            if pull.state == "open":
                return pull
        closed = [p for p in pulls if p.merged_at is None]
        return max(closed, key=lambda p: p.number) if closed else None

    def _pull_request(
        self, repo: Repository, draft: PullRequestDraft, default: str, body: str
    ) -> tuple[PullRequest, bool]:
        pull = self._find_pull(repo, draft.branch)
        if pull is None:
            try:
                return self._create_pull(repo, draft, default, body), True
            except DeliveryError as exc:
                if not _says(exc.__cause__, "a pull request already exists"):
                    raise
            pull = self._find_pull(repo, draft.branch)  # opened meanwhile (a lost response)
            if pull is None:
                raise TransientError(
                    f"GitHub says a pull request for {draft.branch} exists but lists none"
                )
        changes: dict[str, str] = {}
        if pull.state != "open":
            changes["state"] = "open"
        if pull.title != draft.title:
            changes["title"] = draft.title
        if (pull.body or "") != body:
            changes["body"] = body
        if changes:
            with self._translating(f"updating pull request #{pull.number}"):
                pull.edit(
                    title=changes.get("title", NotSet),
                    body=changes.get("body", NotSet),
                    state=changes.get("state", NotSet),
                )
        return pull, False

    def _create_pull(
        self, repo: Repository, draft: PullRequestDraft, default: str, body: str
    ) -> PullRequest:
        """Open it (as a draft when asked; where the plan has no drafts, a private
        repository on GitHub Free, as an ordinary one: its label and body still say it is
        unverified)."""

        def create(as_draft: bool) -> PullRequest:
            with self._translating(f"opening the pull request for {draft.branch}"):
                return repo.create_pull(
                    base=default,
                    head=draft.branch,
                    title=draft.title,
                    body=body,
                    maintainer_can_modify=True,
                    draft=as_draft,
                )

        try:
            return create(draft.draft)
        except DeliveryError as exc:
            if not (draft.draft and _says(exc.__cause__, "draft pull requests are not supported")):
                raise
        return create(False)

    def _set_draft(self, pull: PullRequest, draft: bool) -> None:
        """An existing pull request follows the latest change: a verified one is marked
        ready for review, an unverified one goes back to draft (GraphQL: REST cannot)."""
        if pull.draft == draft:
            return
        action = "converting it to a draft" if draft else "marking it ready for review"
        try:
            with self._translating(f"{action} (pull request #{pull.number})"):
                if draft:
                    pull.convert_to_draft()
                else:
                    pull.mark_ready_for_review()
        except DeliveryError as exc:
            # The change is delivered; its label and body say what it is.
            logger.warning("draft state left as it was", extra={"reason": str(exc)})

    def _label(self, pull: PullRequest, labels: list[str]) -> None:
        present = {label.name for label in pull.labels}
        missing = [label for label in labels if label not in present]
        if missing:
            with self._translating(f"labelling pull request #{pull.number}"):
                pull.add_to_labels(*missing)
        if UNVERIFIED_LABEL in present and UNVERIFIED_LABEL not in labels:
            # Gone already: removed meanwhile (a retried request whose answer was lost).
            with (
                self._translating(f"removing the {UNVERIFIED_LABEL} label of #{pull.number}"),
                contextlib.suppress(UnknownObjectException),
            ):
                pull.remove_from_labels(UNVERIFIED_LABEL)

    # -- errors ----------------------------------------------------------------------------

    @contextmanager
    def _translating(
        self,
        action: str,
        *,
        not_found: str | None = None,
        invalid: str | None = None,
        branch: str | None = None,
    ) -> Iterator[None]:
        """Turn what PyGithub and requests raise while doing ``action`` into DeliveryError
        (a person must act; the message says how) or TransientError (retry later). The
        original exception is the ``__cause__``."""
        repo = self.repo_full_name
        try:
            yield
        except GithubException as exc:
            raise self._github_error(exc, action, not_found, invalid, branch) from exc
        except requests.exceptions.RetryError as exc:
            raise TransientError(
                f"GitHub kept answering with server errors or rate limits while {action} in "
                f"{repo}, beyond the retries: {exc}"
            ) from exc
        except (
            requests.ConnectionError,
            requests.Timeout,
            requests.exceptions.ChunkedEncodingError,
        ) as exc:
            raise TransientError(
                f"GitHub could not be reached while {action} in {repo}: {exc}"
            ) from exc
        except requests.RequestException as exc:
            raise DeliveryError(
                f"the request to GitHub failed while {action} in {repo}: {exc}"
            ) from exc

    def _github_error(
        self,
        exc: GithubException,
        action: str,
        not_found: str | None,
        invalid: str | None,
        branch: str | None,
    ) -> Exception:
        repo = self.repo_full_name
        status, message = exc.status, _message(exc)
        if isinstance(exc, RateLimitExceededExceedsMaxWait):
            return TransientError(
                f"GitHub rate-limited {action} in {repo} for {exc.wait or 0:.0f}s, longer than "
                "fixloop waits in one attempt: the delivery is retried later"
            )
        if isinstance(exc, BadCredentialsException) or status == 401:
            return DeliveryError(
                f"GitHub rejected the credentials ({message or 'Bad credentials'}): the token or "
                "app installation is expired or revoked. Renew the token (or the GitHub App's "
                "private key or installation) in the configured secret, then retry the delivery"
            )
        if status in (403, 429):
            if _is_rate_limit(exc):
                return TransientError(
                    f"GitHub rate-limited {action} in {repo} ({message}): retried later"
                )
            return DeliveryError(
                f"GitHub denied {action} in {repo} ({message}): the credentials lack "
                f"permission; {PERMISSIONS_HINT.format(repo=repo)}"
            )
        if status == 404:
            return DeliveryError(
                not_found
                or f"GitHub answered 404 Not Found while {action} in {repo}: the repository or "
                "object is missing, or these credentials cannot see it"
            )
        if status == 422 and branch is not None and _is_protection(message):
            rule = " ".join(message.split())
            return DeliveryError(
                f"GitHub refused {action} in {repo}: branch {branch} is protected by a branch "
                f"protection rule or ruleset ({rule}). Exempt {OWN_BRANCH_PREFIX}* branches from "
                "the rule, or let the fixloop token or app bypass it"
            )
        if status == 422 and invalid is not None:
            return DeliveryError(invalid)
        if status >= 500:
            return TransientError(f"GitHub failed while {action} in {repo}: {status} {message}")
        return DeliveryError(f"GitHub refused {action} in {repo}: {status} {message}")


def _message(exc: GithubException) -> str:
    """GitHub's message, with the messages of a 422's ``errors``."""
    data = exc.data if isinstance(exc.data, dict) else {}
    parts = [str(data.get("message") or exc.message or "")]
    for error in data.get("errors") or []:
        if isinstance(error, dict) and error.get("message"):
            parts.append(str(error["message"]))
        elif isinstance(error, str):
            parts.append(error)
    return ": ".join(p.strip() for p in parts if p and p.strip())


def _says(exc: BaseException | None, text: str) -> bool:
    return isinstance(exc, GithubException) and text in _message(exc).lower()


def _is_rate_limit(exc: GithubException) -> bool:
    if isinstance(exc, RateLimitExceededException):
        return True
    headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
    return headers.get("x-ratelimit-remaining") == "0" or "retry-after" in headers


def _is_protection(message: str) -> bool:
    lowered = message.lower()
    return any(
        marker in lowered
        for marker in ("protected branch", "protected ref", "rule violation", "branch protection")
    )
