"""The local GitHub API server: the test controls and inspection, and the dispatch of each
request to its route."""

from __future__ import annotations

import re
import shutil
import tempfile
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote

from fixloop.httpserver import BackgroundServer
from tests.fakes.github.auth import authenticate, issue_installation_token
from tests.fakes.github.faults import Faults
from tests.fakes.github.git_data import GitData
from tests.fakes.github.graphql import answer_graphql
from tests.fakes.github.handler import handler_for
from tests.fakes.github.protocol import JsonDict, RecordedRequest, Reply, Route, error, iso
from tests.fakes.github.pulls import PullRequests, PullRequestState
from tests.fakes.github.repository import BareRepository, GitFailed
from tests.fakes.github.site import Site

__all__ = ["GitHubServer"]


class GitHubServer(BackgroundServer):
    """GitHub's REST API for one repository on 127.0.0.1, served from a background thread."""

    def __init__(
        self,
        source: str | Path,
        *,
        owner: str = "acme",
        name: str = "svc",
        token: str = "ghs_test_token",
        app_id: int | None = None,
        app_public_key: str | None = None,
        installation_id: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        """Clone ``source`` bare into a temporary directory (removed by :meth:`stop`).

        With ``app_id`` and ``app_public_key`` (PEM) the server also issues installation
        tokens (:attr:`token`) for ``installation_id`` to JWTs that key verifies.
        """
        self.owner = owner
        self.name = name
        self.token = token
        self.tokens: set[str] = {token}
        """Tokens the server accepts; remove one to make it expired or revoked."""
        self.app_id = app_id
        self.app_public_key = app_public_key
        self.installation_id = installation_id
        self.app_permissions = {"contents": "write", "pull_requests": "write", "metadata": "read"}
        self.narrowed_tokens: dict[str, dict[str, str]] = {}
        """Installation tokens issued with narrowed ``permissions``, and those permissions."""
        self.requests: list[RecordedRequest] = []
        self._lock = threading.RLock()
        self._tmp = Path(tempfile.mkdtemp(prefix="fixloop-github-"))
        self.git_dir = self._tmp / f"{name}.git"
        try:
            self._repo = BareRepository.clone(source, self.git_dir)
            self.default_branch = self._repo.head_branch()
            self.base_sha = self.branch_head(self.default_branch) or ""
            """The default branch's head when the server started."""
        except BaseException:
            shutil.rmtree(self._tmp, ignore_errors=True)
            raise
        self._faults = Faults()
        super().__init__(host, port, handler_for(self._handle), "github-server")
        self._site = Site(self.base_url, owner, name, self.default_branch)
        self._git_data = GitData(self._site, self._repo)
        self._pulls = PullRequests(self._site, self._repo)

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self._tmp, ignore_errors=True)

    # -- test controls -----------------------------------------------------------------------

    def fail_after(self, n: int) -> None:
        """Process the ``n``-th request from now normally, then drop its connection without
        answering (once): the change is made, the client never learns it."""
        with self._lock:
            self._faults.fail_after(n)

    def rate_limit(
        self,
        kind: Literal["primary", "secondary"] = "primary",
        times: int = 1,
        *,
        retry_after: int | None = 1,
        reset_in: int = 1,
        when: str = "*",
        status: Literal[403, 429] = 403,
    ) -> None:
        """Answer the next ``times`` requests matching ``when`` (fnmatch on ``"METHOD
        /path"``) with a rate limit error instead of processing them.

        primary: ``status`` (GitHub sends 403 or 429) "API rate limit exceeded ...",
        ``x-ratelimit-remaining: 0`` and ``x-ratelimit-reset`` = now + ``reset_in``.
        secondary: ``status`` with GitHub's secondary rate limit message and ``retry-after:
        retry_after`` (omitted when None).
        """
        with self._lock:
            self._faults.rate_limit(
                kind, times, retry_after=retry_after, reset_in=reset_in, when=when, status=status
            )

    def protect(self, pattern: str) -> None:
        """Refuse creating or updating branches matching ``pattern`` (fnmatch) with 422 and
        GitHub's repository rule violation message."""
        with self._lock:
            self._site.protected.append(pattern)

    def inject_error(
        self,
        status: int,
        message: str,
        *,
        times: int = 1,
        when: str = "*",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer the next ``times`` requests matching ``when`` (fnmatch on ``"METHOD
        /path"``) with ``status`` and ``{"message": message}`` instead of processing them."""
        with self._lock:
            self._faults.inject_error(
                status, message, times=times, when=when, headers=dict(headers or {})
            )

    def advance(
        self, branch: str, files: Mapping[str, str | bytes | None], message: str = "advance"
    ) -> str:
        """Add a commit on ``branch`` changing ``files`` (None deletes one); its new head."""
        with self._lock:
            head = self.branch_head(branch)
            if head is None:
                raise KeyError(f"no branch {branch!r}")
            entries: list[JsonDict] = []
            for path, content in files.items():
                if content is None:
                    entries.append({"path": path, "mode": "100644", "type": "blob", "sha": None})
                    continue
                sha = self._repo.write_blob(
                    content.encode() if isinstance(content, str) else content
                )
                entries.append({"path": path, "mode": "100644", "type": "blob", "sha": sha})
            tree = self._repo.build_tree(self._repo.commit_tree_sha(head), entries)
            now = iso(datetime.now(UTC))
            identity = {"name": "GitHub", "email": "noreply@github.com", "date": now}
            commit = self._repo.commit_tree(tree, [head], message, identity, identity)
            self._repo.git("update-ref", f"refs/heads/{branch}", commit, head)
            return commit

    def refuse_drafts(self) -> None:
        """The repository's plan has no draft pull requests (a private one on GitHub Free)."""
        with self._lock:
            self._pulls.drafts_supported = False

    def close_pull(self, number: int, *, merged: bool = False) -> None:
        """Close a pull request (as a person would), merged or not."""
        with self._lock:
            self._pulls.close(number, merged=merged)

    # -- inspection --------------------------------------------------------------------------

    @property
    def pulls(self) -> list[PullRequestState]:
        with self._lock:
            return self._pulls.states()

    def branch_head(self, name: str) -> str | None:
        return self._repo.branch_head(name)

    def commit_count(self, ref: str, since: str | None = None) -> int:
        """Commits reachable from ``ref`` (a branch or SHA) and not from ``since`` (default:
        the default branch's head when the server started)."""
        start = self._repo.resolve(ref)
        out = self._repo.git("rev-list", "--count", start, f"^{since or self.base_sha}")
        return int(out.decode().strip())

    def read_file(self, ref: str, path: str) -> bytes | None:
        """The content of ``path`` at ``ref`` (a branch or SHA); None when it does not exist."""
        proc = self._repo.run(["cat-file", "blob", f"{self._repo.resolve(ref)}:{path}"])
        return proc.stdout if proc.returncode == 0 else None

    def parents(self, ref: str) -> list[str]:
        """The parents of the commit ``ref`` names."""
        return self._repo.parse_commit(self._repo.resolve(ref))["parents"]  # type: ignore[no-any-return]

    def endpoints(self) -> list[str]:
        """``METHOD path`` of every request so far, repository prefix cut (see
        :attr:`RecordedRequest.endpoint`)."""
        with self._lock:
            return [r.endpoint for r in self.requests]

    # -- request handling --------------------------------------------------------------------

    def _handle(self, request: RecordedRequest) -> tuple[int, Any, dict[str, str], bool]:
        """(status, body, headers, drop) for a request; body None means no content."""
        with self._lock:
            self.requests.append(request)
            drop = self._faults.arrived()
            headers = self._faults.rate_headers()
            try:
                self._faults.check(request)
                if not request.path.startswith("/app/"):  # the app's JWT is checked by its route
                    authenticate(request, self.tokens)
                status, body = self._route(request)
            except Reply as reply:
                status, body = reply.status, reply.body
                headers.update(reply.headers)
            except GitFailed as exc:
                status, body = 500, {"message": f"Server Error: {exc}"}
            request.status = None if drop else status
            return status, body, headers, drop

    def _route(self, request: RecordedRequest) -> tuple[int, Any]:
        method, path, body = request.method, request.path, request.body
        match = re.fullmatch(r"/app/installations/(\d+)/access_tokens", path)
        if match and method == "POST":
            return issue_installation_token(
                request,
                int(match.group(1)),
                app_id=self.app_id,
                app_public_key=self.app_public_key,
                installation_id=self.installation_id,
                token=self.token,
                permissions=self.app_permissions,
                narrowed_tokens=self.narrowed_tokens,
            )
        if path == "/graphql" and method == "POST":
            return answer_graphql(self._pulls, body)
        match = re.fullmatch(r"/repos/([^/]+)/([^/]+)(?:/(.*))?", path)
        if not match:
            raise error(404, "Not Found")
        owner, name, rest = unquote(match.group(1)), unquote(match.group(2)), match.group(3)
        if (owner.lower(), name.lower()) != (self.owner.lower(), self.name.lower()):
            raise error(404, "Not Found")
        rest = (rest or "").rstrip("/")
        for route_method, pattern, handler in self._routes():
            if method != route_method:
                continue
            found = re.fullmatch(pattern, rest)
            if found:
                return handler(body, request.query, *(unquote(g) for g in found.groups()))
        raise error(404, "Not Found")

    def _routes(self) -> list[Route]:
        return [
            ("GET", r"", lambda _b, _q: (200, self._site.repo_json())),
            *self._git_data.routes(),
            *self._pulls.routes(),
        ]
