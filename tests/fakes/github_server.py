"""A local HTTP server speaking the part of GitHub's REST API that delivery uses, for tests of
the real PyGithub client.

The repository behind it is a real bare git repository (``git clone --bare SOURCE``), so the
Git Data endpoints have git's own semantics and SHAs: a blob, tree or commit written twice is
the same object; a commit written from the same request (same tree, parents, identities,
dates and message) has the same SHA. Pull requests, labels and branch protection live in
memory. Response bodies follow GitHub's documented shapes closely enough for PyGithub to build
its objects from them::

    with GitHubServer(source_repo, owner="acme", name="svc", token="t") as server:
        gh = github.Github(auth=github.Auth.Token("t"), base_url=server.base_url)
        ...
        assert server.branch_head("fixloop/inv-1") == ...

Endpoints (under ``/repos/{owner}/{repo}``): ``GET`` the repository, ``GET branches/{b}``,
``GET git/ref/{ref}`` (and ``git/refs/{ref}``), ``POST git/refs``, ``PATCH`` / ``DELETE
git/refs/{ref}``, ``POST git/blobs``, ``GET git/blobs/{sha}``, ``POST git/trees``, ``GET
git/trees/{sha}``, ``POST git/commits``, ``GET git/commits/{sha}``, ``GET`` / ``POST pulls``,
``GET`` / ``PATCH pulls/{n}``, ``GET`` / ``POST issues/{n}/labels``; and ``POST
/app/installations/{id}/access_tokens`` for GitHub App installation tokens (a RS256 JWT
signed by the configured app key).

Every request needs ``Authorization: token X`` or ``Bearer X`` with X in :attr:`tokens`
(else 401 "Bad credentials"); another repository is 404 "Not Found". Test controls:
:meth:`fail_after` (a lost response), :meth:`rate_limit` (primary or secondary limits),
:meth:`protect` (branch protection), :meth:`inject_error` (any error reply),
:meth:`advance` (the base branch moves), :meth:`close_pull`. Every request is recorded in
:attr:`requests`.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import hashlib
import json
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

from fixloop.httpserver import BackgroundServer
from fixloop.sandbox.workspace import clean_git_env

__all__ = ["GitHubServer", "PullRequestState", "RecordedRequest"]

JsonDict = dict[str, Any]

DOCS = "https://docs.github.com/rest"
ZERO_SHA = "0" * 40
SECONDARY_RATE_LIMIT_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try "
    "again. If you reach out to GitHub Support for help, please include the request ID {id}."
)
PROTECTED_CREATE_MESSAGE = (
    "Repository rule violations found\n\nCannot create ref due to creations being restricted.\n\n"
)
PROTECTED_UPDATE_MESSAGE = (
    "Repository rule violations found\n\nCannot update this protected ref.\n\n"
)
_SHA = re.compile(r"^[0-9a-f]{40}$")


@dataclass
class RecordedRequest:
    """One request as the server received it (header names in lower case)."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str]
    status: int | None = None
    """The status answered; None while in progress or when the connection was dropped."""

    @property
    def endpoint(self) -> str:
        """``METHOD path`` with the repository prefix cut, e.g. ``POST git/refs`` (``GET
        repo`` for the repository itself)."""
        path = re.sub(r"^/repos/[^/]+/[^/]+/?", "", self.path)
        return f"{self.method} {path or 'repo'}"


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


@dataclass(frozen=True)
class _RateLimit:
    kind: str
    status: int
    reset_in: int
    retry_after: int | None
    when: str


@dataclass
class _InjectedError:
    status: int
    body: JsonDict
    headers: dict[str, str]
    when: str
    times: int


class _Reply(Exception):
    """Raised by a route to answer with an error (or any status and body)."""

    def __init__(
        self,
        status: int,
        body: JsonDict | list[Any] | None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


class _GitFailed(Exception):
    pass


def _error(status: int, message: str, **extra: Any) -> _Reply:
    return _Reply(
        status, {"message": message, "documentation_url": DOCS, "status": str(status), **extra}
    )


def _validation_failed(resource: str, code: str, message: str = "", **fields: Any) -> _Reply:
    error: JsonDict = {"resource": resource, "code": code, **fields}
    if message:
        error["message"] = message
    return _error(422, "Validation Failed", errors=[error])


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _node_id(kind: str, key: str) -> str:
    return base64.b64encode(f"{kind}:{key}".encode()).decode()


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
            proc = subprocess.run(
                ["git", "clone", "--quiet", "--bare", "--", str(source), str(self.git_dir)],
                capture_output=True,
                env=_git_env(),
                check=False,
            )
            if proc.returncode != 0:
                raise RuntimeError(f"cannot clone {source}: {proc.stderr.decode().strip()}")
            self.default_branch = self._git("symbolic-ref", "--short", "HEAD").decode().strip()
            self.base_sha = self.branch_head(self.default_branch) or ""
            """The default branch's head when the server started."""
        except BaseException:
            shutil.rmtree(self._tmp, ignore_errors=True)
            raise
        self._pulls: dict[int, _Pull] = {}
        self._labels: dict[str, int] = {}
        self._protected: list[str] = []
        self._rate_limits: list[_RateLimit] = []
        self._injected: list[_InjectedError] = []
        self._drop_countdown: int | None = None
        self._next_number = 1
        self._request_ids = 0
        self._remaining = 5000
        super().__init__(host, port, _handler_for(self), "github-server")

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def fail_after(self, n: int) -> None:
        """Process the ``n``-th request from now normally, then drop its connection without
        answering (once): the change is made, the client never learns it."""
        if n < 1:
            raise ValueError("n counts requests from 1")
        with self._lock:
            self._drop_countdown = n

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
            for _ in range(times):
                self._rate_limits.append(_RateLimit(kind, status, reset_in, retry_after, when))

    def protect(self, pattern: str) -> None:
        """Refuse creating or updating branches matching ``pattern`` (fnmatch) with 422 and
        GitHub's repository rule violation message."""
        with self._lock:
            self._protected.append(pattern)

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
        body = {"message": message, "documentation_url": DOCS, "status": str(status)}
        with self._lock:
            self._injected.append(_InjectedError(status, body, dict(headers or {}), when, times))

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
                data = content.encode() if isinstance(content, str) else content
                sha = self._git("hash-object", "-w", "--stdin", input=data).decode().strip()
                entries.append({"path": path, "mode": "100644", "type": "blob", "sha": sha})
            tree = self._build_tree(self._commit_tree_sha(head), entries)
            now = datetime.now(UTC)
            identity = {"name": "GitHub", "email": "noreply@github.com", "date": _iso(now)}
            commit = self._commit_tree(tree, [head], message, identity, identity)
            self._git("update-ref", f"refs/heads/{branch}", commit, head)
            return commit

    def close_pull(self, number: int, *, merged: bool = False) -> None:
        """Close a pull request (as a person would), merged or not."""
        with self._lock:
            pull = self._pulls[number]
            now = datetime.now(UTC)
            pull.state = "closed"
            pull.closed_at = now
            pull.updated_at = now
            if merged:
                pull.merged = True
                pull.merged_at = now

    # -- inspection --------------------------------------------------------------------------

    @property
    def pulls(self) -> list[PullRequestState]:
        with self._lock:
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
                    head_sha=self._pull_head_sha(p),
                    draft=p.draft,
                    maintainer_can_modify=p.maintainer_can_modify,
                )
                for p in sorted(self._pulls.values(), key=lambda p: p.number)
            ]

    def branch_head(self, name: str) -> str | None:
        proc = self._run_git(["rev-parse", "--verify", "--quiet", f"refs/heads/{name}"])
        return proc.stdout.decode().strip() if proc.returncode == 0 else None

    def commit_count(self, ref: str, since: str | None = None) -> int:
        """Commits reachable from ``ref`` (a branch or SHA) and not from ``since`` (default:
        the default branch's head when the server started)."""
        start = self._resolve(ref)
        out = self._git("rev-list", "--count", start, f"^{since or self.base_sha}")
        return int(out.decode().strip())

    def read_file(self, ref: str, path: str) -> bytes | None:
        """The content of ``path`` at ``ref`` (a branch or SHA); None when it does not exist."""
        proc = self._run_git(["cat-file", "blob", f"{self._resolve(ref)}:{path}"])
        return proc.stdout if proc.returncode == 0 else None

    def parents(self, ref: str) -> list[str]:
        """The parents of the commit ``ref`` names."""
        return self._parse_commit(self._resolve(ref))["parents"]  # type: ignore[no-any-return]

    def endpoints(self) -> list[str]:
        """``METHOD path`` of every request so far, repository prefix cut (see
        :attr:`RecordedRequest.endpoint`)."""
        with self._lock:
            return [r.endpoint for r in self.requests]

    def _resolve(self, ref: str) -> str:
        return self.branch_head(ref) or ref

    # -- request handling --------------------------------------------------------------------

    def _handle(self, request: RecordedRequest) -> tuple[int, Any, dict[str, str], bool]:
        """(status, body, headers, drop) for a request; body None means no content."""
        with self._lock:
            self.requests.append(request)
            self._request_ids += 1
            drop = False
            if self._drop_countdown is not None:
                self._drop_countdown -= 1
                if self._drop_countdown == 0:
                    self._drop_countdown = None
                    drop = True
            headers = self._rate_headers()
            try:
                self._gate(request)
                status, body = self._route(request)
            except _Reply as reply:
                status, body = reply.status, reply.body
                headers.update(reply.headers)
            except _GitFailed as exc:
                status, body = 500, {"message": f"Server Error: {exc}"}
            request.status = None if drop else status
            return status, body, headers, drop

    def _rate_headers(self) -> dict[str, str]:
        self._remaining = max(self._remaining - 1, 1)
        return {
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": str(self._remaining),
            "x-ratelimit-reset": str(int(time.time()) + 3600),
            "x-ratelimit-used": str(5000 - self._remaining),
            "x-ratelimit-resource": "core",
            "x-github-request-id": f"FAKE:{self._request_ids:08X}",
        }

    def _gate(self, request: RecordedRequest) -> None:
        """Rate limits, injected errors and authentication, before any route runs."""
        line = f"{request.method} {request.path}"
        for index, limit in enumerate(self._rate_limits):
            if fnmatch.fnmatchcase(line, limit.when):
                del self._rate_limits[index]
                raise self._rate_limited(limit)
        for injected in self._injected:
            if injected.times > 0 and fnmatch.fnmatchcase(line, injected.when):
                injected.times -= 1
                raise _Reply(injected.status, dict(injected.body), injected.headers)
        self._injected = [i for i in self._injected if i.times > 0]
        if request.path.startswith("/app/"):
            return  # the app's JWT is checked by its route
        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() not in ("token", "bearer") or credential.strip() not in self.tokens:
            raise _error(401, "Bad credentials")

    def _rate_limited(self, limit: _RateLimit) -> _Reply:
        reset = str(int(time.time()) + limit.reset_in)
        if limit.kind == "primary":
            return _Reply(
                limit.status,
                {
                    "message": "API rate limit exceeded for installation ID 1.",
                    "documentation_url": "https://docs.github.com/rest/overview/"
                    "rate-limits-for-the-rest-api#about-primary-rate-limits",
                    "status": str(limit.status),
                },
                {
                    "x-ratelimit-limit": "5000",
                    "x-ratelimit-remaining": "0",
                    "x-ratelimit-used": "5000",
                    "x-ratelimit-reset": reset,
                },
            )
        headers = {"retry-after": str(limit.retry_after)} if limit.retry_after is not None else {}
        message = SECONDARY_RATE_LIMIT_MESSAGE.format(id=f"FAKE:{self._request_ids:08X}")
        return _Reply(
            limit.status,
            {
                "message": message,
                "documentation_url": "https://docs.github.com/rest/overview/"
                "rate-limits-for-the-rest-api#about-secondary-rate-limits",
                "status": str(limit.status),
            },
            headers,
        )

    def _route(self, request: RecordedRequest) -> tuple[int, Any]:
        method, path, body = request.method, request.path, request.body
        match = re.fullmatch(r"/app/installations/(\d+)/access_tokens", path)
        if match and method == "POST":
            return self._installation_token(request, int(match.group(1)))
        match = re.fullmatch(r"/repos/([^/]+)/([^/]+)(?:/(.*))?", path)
        if not match:
            raise _error(404, "Not Found")
        owner, name, rest = unquote(match.group(1)), unquote(match.group(2)), match.group(3)
        if (owner.lower(), name.lower()) != (self.owner.lower(), self.name.lower()):
            raise _error(404, "Not Found")
        rest = (rest or "").rstrip("/")
        for route_method, pattern, handler in self._routes():
            if method != route_method:
                continue
            found = re.fullmatch(pattern, rest)
            if found:
                return handler(body, request.query, *(unquote(g) for g in found.groups()))
        raise _error(404, "Not Found")

    def _routes(self) -> list[tuple[str, str, Callable[..., tuple[int, Any]]]]:
        return [
            ("GET", r"", lambda _b, _q: (200, self._repo_json())),
            ("GET", r"branches/(.+)", self._get_branch),
            ("GET", r"git/refs?/(heads/.+|tags/.+)", self._get_ref),
            ("POST", r"git/refs", self._create_ref),
            ("PATCH", r"git/refs/(.+)", self._update_ref),
            ("DELETE", r"git/refs/(.+)", self._delete_ref),
            ("POST", r"git/blobs", self._create_blob),
            ("GET", r"git/blobs/([^/]+)", self._get_blob),
            ("POST", r"git/trees", self._create_tree),
            ("GET", r"git/trees/([^/]+)", self._get_tree),
            ("POST", r"git/commits", self._create_commit),
            ("GET", r"git/commits/([^/]+)", self._get_commit),
            ("GET", r"pulls", self._list_pulls),
            ("POST", r"pulls", self._create_pull),
            ("GET", r"pulls/(\d+)", self._get_pull),
            ("PATCH", r"pulls/(\d+)", self._update_pull),
            ("GET", r"issues/(\d+)/labels", self._get_labels),
            ("POST", r"issues/(\d+)/labels", self._add_labels),
        ]

    # -- the app -----------------------------------------------------------------------------

    def _installation_token(self, request: RecordedRequest, installation: int) -> tuple[int, Any]:
        import jwt

        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        if self.app_public_key is None or scheme.lower() != "bearer":
            raise _error(401, "A JSON web token could not be decoded")
        try:
            claims = jwt.decode(
                credential.strip(),
                self.app_public_key,
                algorithms=["RS256"],
                options={"require": ["iat", "exp", "iss"]},
            )
        except jwt.PyJWTError as exc:
            raise _error(401, f"A JSON web token could not be decoded ({exc})") from exc
        if str(claims.get("iss")) != str(self.app_id):
            raise _error(401, "'Issuer' claim ('iss') must be an Integer")
        if installation != self.installation_id:
            raise _error(404, "Not Found")
        expires = datetime.now(UTC) + timedelta(hours=1)
        asked = (request.body or {}).get("permissions") if isinstance(request.body, dict) else None
        token, granted = self.token, self.app_permissions
        if asked:
            # A narrowed token is a new token, holding only what was asked (as on GitHub).
            granted = dict(asked)
            token = f"ghs_narrowed_{len(self.narrowed_tokens) + 1:04d}"
            self.narrowed_tokens[token] = granted
        return 201, {
            "token": token,
            "expires_at": _iso(expires),
            "permissions": granted,
            "repository_selection": "selected",
        }

    # -- repository and branches ---------------------------------------------------------------

    def _api(self, rest: str = "") -> str:
        return f"{self.base_url}/repos/{self.owner}/{self.name}" + (f"/{rest}" if rest else "")

    def _html(self, rest: str = "") -> str:
        return f"{self.base_url}/{self.owner}/{self.name}" + (f"/{rest}" if rest else "")

    def _user_json(self) -> JsonDict:
        return {
            "login": self.owner,
            "id": 1,
            "node_id": _node_id("Organization", self.owner),
            "type": "Organization",
            "site_admin": False,
            "url": f"{self.base_url}/users/{self.owner}",
            "html_url": f"{self.base_url}/{self.owner}",
        }

    def _repo_json(self) -> JsonDict:
        return {
            "id": 1296269,
            "node_id": _node_id("Repository", self.full_name),
            "name": self.name,
            "full_name": self.full_name,
            "owner": self._user_json(),
            "private": True,
            "visibility": "private",
            "html_url": self._html(),
            "description": None,
            "fork": False,
            "url": self._api(),
            "git_url": f"git://127.0.0.1/{self.full_name}.git",
            "clone_url": f"{self._html()}.git",
            "default_branch": self.default_branch,
            "archived": False,
            "disabled": False,
            "permissions": {"admin": False, "maintain": False, "push": True, "pull": True},
            "allow_merge_commit": True,
            "allow_squash_merge": True,
            "allow_rebase_merge": True,
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
            "pushed_at": "2026-01-01T00:00:00Z",
        }

    def _get_branch(self, _body: Any, _query: Any, branch: str) -> tuple[int, Any]:
        head = self.branch_head(branch)
        if head is None:
            raise _error(404, "Branch not found")
        commit = self._commit_json(head)
        return 200, {
            "name": branch,
            "commit": {
                "sha": head,
                "node_id": commit["node_id"],
                "url": self._api(f"commits/{head}"),
                "html_url": self._html(f"commit/{head}"),
                "commit": {
                    key: commit[key] for key in ("author", "committer", "message", "tree", "url")
                },
                "parents": commit["parents"],
            },
            "_links": {
                "self": self._api(f"branches/{branch}"),
                "html": self._html(f"tree/{branch}"),
            },
            "protected": self._is_protected(branch),
            "protection_url": self._api(f"branches/{branch}/protection"),
        }

    def _is_protected(self, branch: str) -> bool:
        return any(fnmatch.fnmatchcase(branch, pattern) for pattern in self._protected)

    # -- refs --------------------------------------------------------------------------------

    def _ref_json(self, ref: str, sha: str) -> JsonDict:
        return {
            "ref": ref,
            "node_id": _node_id("Ref", ref),
            "url": self._api(f"git/{ref}"),
            "object": {"sha": sha, "type": "commit", "url": self._api(f"git/commits/{sha}")},
        }

    def _get_ref(self, _body: Any, _query: Any, ref: str) -> tuple[int, Any]:
        proc = self._run_git(["rev-parse", "--verify", "--quiet", f"refs/{ref}"])
        if proc.returncode != 0:
            raise _error(404, "Not Found")
        return 200, self._ref_json(f"refs/{ref}", proc.stdout.decode().strip())

    def _create_ref(self, body: Any, _query: Any) -> tuple[int, Any]:
        ref, sha = _field(body, "ref", str), _field(body, "sha", str)
        if not ref.startswith("refs/") or ref.count("/") < 2:
            raise _error(
                422, "Reference name must start with 'refs/' and have at least two slashes."
            )
        if self._run_git(["check-ref-format", ref]).returncode != 0:
            raise _error(422, "Reference name is invalid")
        if not self._is_commit(sha):
            raise _error(422, "Object does not exist")
        branch = ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None
        if branch is not None and self._is_protected(branch):
            raise _error(422, PROTECTED_CREATE_MESSAGE)
        if self._run_git(["update-ref", ref, sha, ZERO_SHA]).returncode != 0:
            raise _error(422, "Reference already exists")
        return 201, self._ref_json(ref, sha)

    def _update_ref(self, body: Any, _query: Any, ref: str) -> tuple[int, Any]:
        sha = _field(body, "sha", str)
        force = bool(body.get("force", False))
        full = f"refs/{ref}"
        proc = self._run_git(["rev-parse", "--verify", "--quiet", full])
        if proc.returncode != 0:
            raise _error(422, "Reference does not exist")
        old = proc.stdout.decode().strip()
        if not self._is_commit(sha):
            raise _error(422, "Object does not exist")
        if ref.startswith("heads/") and self._is_protected(ref.removeprefix("heads/")):
            raise _error(422, PROTECTED_UPDATE_MESSAGE)
        if not force and old != sha:
            fast_forward = self._run_git(["merge-base", "--is-ancestor", old, sha]).returncode == 0
            if not fast_forward:
                raise _error(422, "Update is not a fast forward")
        if self._run_git(["update-ref", full, sha, old]).returncode != 0:
            raise _error(422, "Reference cannot be updated")
        return 200, self._ref_json(full, sha)

    def _delete_ref(self, _body: Any, _query: Any, ref: str) -> tuple[int, Any]:
        if self._run_git(["update-ref", "-d", f"refs/{ref}"]).returncode != 0:
            raise _error(422, "Reference does not exist")
        return 204, None

    # -- blobs, trees, commits ---------------------------------------------------------------

    def _create_blob(self, body: Any, _query: Any) -> tuple[int, Any]:
        content = _field(body, "content", str)
        encoding = body.get("encoding", "utf-8")
        if encoding == "base64":
            try:
                data = base64.b64decode(content, validate=False)
            except binascii.Error as exc:
                raise _error(422, "Invalid base64 content") from exc
        elif encoding in ("utf-8", "utf8"):
            data = content.encode()
        else:
            raise _error(422, f"encoding {encoding!r} is not supported")
        sha = self._git("hash-object", "-w", "--stdin", input=data).decode().strip()
        return 201, {"sha": sha, "url": self._api(f"git/blobs/{sha}")}

    def _get_blob(self, _body: Any, _query: Any, sha: str) -> tuple[int, Any]:
        if not _SHA.match(sha) or self._object_type(sha) != "blob":
            raise _error(404, "Not Found")
        data = self._git("cat-file", "blob", sha)
        return 200, {
            "sha": sha,
            "node_id": _node_id("Blob", sha),
            "size": len(data),
            "url": self._api(f"git/blobs/{sha}"),
            "content": base64.encodebytes(data).decode(),
            "encoding": "base64",
        }

    def _create_tree(self, body: Any, _query: Any) -> tuple[int, Any]:
        entries = _field(body, "tree", list)
        base_tree = body.get("base_tree")
        if base_tree is not None and (
            not isinstance(base_tree, str) or self._object_type(base_tree) != "tree"
        ):
            raise _error(422, "Invalid tree info", errors=["base_tree is not a valid tree oid"])
        resolved: list[JsonDict] = []
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
                raise _error(422, "Invalid tree info")
            mode, kind = entry.get("mode"), entry.get("type", "blob")
            if kind != "blob" or mode not in ("100644", "100755", "120000"):
                raise _error(422, f"tree entry {entry.get('path')!r}: only blobs are supported")
            if "content" in entry and entry["content"] is not None:
                data = str(entry["content"]).encode()
                sha = self._git("hash-object", "-w", "--stdin", input=data).decode().strip()
                resolved.append({**entry, "sha": sha})
            elif entry.get("sha") is None:
                resolved.append({**entry, "sha": None})
            elif self._object_type(str(entry["sha"])) != "blob":
                raise _error(422, "GitRPC::BadObjectState", errors=["tree.sha is not a blob"])
            else:
                resolved.append(entry)
        sha = self._build_tree(base_tree, resolved)
        return 201, self._tree_json(sha)

    def _get_tree(self, _body: Any, _query: Any, sha: str) -> tuple[int, Any]:
        if not _SHA.match(sha) or self._object_type(sha) != "tree":
            raise _error(404, "Not Found")
        return 200, self._tree_json(sha)

    def _tree_json(self, sha: str) -> JsonDict:
        items: list[JsonDict] = []
        listing = self._git("ls-tree", "-z", sha).decode("utf-8", "surrogateescape")
        for line in filter(None, listing.split("\0")):
            meta, path = line.split("\t", 1)
            mode, kind, obj = meta.split(" ")
            kind_path = "blobs" if kind == "blob" else "trees"
            items.append(
                {
                    "path": path,
                    "mode": mode,
                    "type": kind,
                    "sha": obj,
                    "url": self._api(f"git/{kind_path}/{obj}"),
                }
            )
        return {"sha": sha, "url": self._api(f"git/trees/{sha}"), "tree": items, "truncated": False}

    def _create_commit(self, body: Any, _query: Any) -> tuple[int, Any]:
        message = _field(body, "message", str)
        tree = _field(body, "tree", str)
        parents = body.get("parents", [])
        if self._object_type(tree) != "tree":
            raise _error(422, "Tree SHA does not exist")
        if not isinstance(parents, list) or not all(
            isinstance(p, str) and self._is_commit(p) for p in parents
        ):
            raise _error(422, "Parent SHA does not exist or is not a commit object")
        now = _iso(datetime.now(UTC))
        fallback = {"name": self.owner, "email": f"{self.owner}@users.noreply.github.com"}
        author = {"date": now, **fallback, **(body.get("author") or {})}
        committer = {"date": author["date"], **author, **(body.get("committer") or {})}
        sha = self._commit_tree(tree, parents, message, author, committer)
        return 201, self._commit_json(sha)

    def _get_commit(self, _body: Any, _query: Any, sha: str) -> tuple[int, Any]:
        if not _SHA.match(sha) or not self._is_commit(sha):
            raise _error(404, "Not Found")
        return 200, self._commit_json(sha)

    def _commit_json(self, sha: str) -> JsonDict:
        parsed = self._parse_commit(sha)
        return {
            "sha": sha,
            "node_id": _node_id("Commit", sha),
            "url": self._api(f"git/commits/{sha}"),
            "html_url": self._html(f"commit/{sha}"),
            "author": parsed["author"],
            "committer": parsed["committer"],
            "message": parsed["message"],
            "tree": {"sha": parsed["tree"], "url": self._api(f"git/trees/{parsed['tree']}")},
            "parents": [
                {
                    "sha": p,
                    "url": self._api(f"git/commits/{p}"),
                    "html_url": self._html(f"commit/{p}"),
                }
                for p in parsed["parents"]
            ],
            "verification": {
                "verified": False,
                "reason": "unsigned",
                "signature": None,
                "payload": None,
                "verified_at": None,
            },
        }

    # -- pull requests -----------------------------------------------------------------------

    def _pull_head_sha(self, pull: _Pull) -> str:
        head = self.branch_head(pull.head)
        if head is not None and pull.state == "open":
            pull.head_sha = head  # GitHub follows the branch while the pull request is open
        return pull.head_sha

    def _label_json(self, name: str) -> JsonDict:
        label_id = self._labels.setdefault(name, 1000 + len(self._labels))
        return {
            "id": label_id,
            "node_id": _node_id("Label", name),
            "url": self._api(f"labels/{name}"),
            "name": name,
            "color": "ededed",
            "default": False,
            "description": None,
        }

    def _part_json(self, branch: str, sha: str) -> JsonDict:
        return {
            "label": f"{self.owner}:{branch}",
            "ref": branch,
            "sha": sha,
            "user": self._user_json(),
            "repo": self._repo_json(),
        }

    def _pull_json(self, pull: _Pull) -> JsonDict:
        number = pull.number
        head_sha = self._pull_head_sha(pull)
        base_sha = self.branch_head(pull.base) or ""
        return {
            "url": self._api(f"pulls/{number}"),
            "id": 10_000 + number,
            "node_id": _node_id("PullRequest", str(number)),
            "html_url": self._html(f"pull/{number}"),
            "diff_url": self._html(f"pull/{number}.diff"),
            "patch_url": self._html(f"pull/{number}.patch"),
            "issue_url": self._api(f"issues/{number}"),
            "commits_url": self._api(f"pulls/{number}/commits"),
            "review_comments_url": self._api(f"pulls/{number}/comments"),
            "comments_url": self._api(f"issues/{number}/comments"),
            "statuses_url": self._api(f"statuses/{head_sha}"),
            "number": number,
            "state": pull.state,
            "locked": False,
            "title": pull.title,
            "user": self._user_json(),
            "body": pull.body,
            "labels": [self._label_json(name) for name in pull.labels],
            "milestone": None,
            "active_lock_reason": None,
            "created_at": _iso(pull.created_at),
            "updated_at": _iso(pull.updated_at),
            "closed_at": _iso(pull.closed_at) if pull.closed_at else None,
            "merged_at": _iso(pull.merged_at) if pull.merged_at else None,
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

    def _list_pulls(self, _body: Any, query: dict[str, list[str]]) -> tuple[int, Any]:
        state = (query.get("state") or ["open"])[0]
        if state not in ("open", "closed", "all"):
            raise _validation_failed("PullRequest", "invalid", field="state")
        head = (query.get("head") or [""])[0]
        base = (query.get("base") or [""])[0]
        pulls = sorted(self._pulls.values(), key=lambda p: p.number, reverse=True)
        if state != "all":
            pulls = [p for p in pulls if p.state == state]
        if head:
            owner, _, branch = head.rpartition(":")
            if owner and owner.lower() != self.owner.lower():
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
        head, base = _field(body, "head", str), _field(body, "base", str)
        owner, _, branch = head.rpartition(":")
        if owner and owner.lower() != self.owner.lower():
            raise _validation_failed("PullRequest", "invalid", field="head")
        head_sha, base_sha = self.branch_head(branch), self.branch_head(base)
        if head_sha is None:
            raise _validation_failed("PullRequest", "invalid", field="head")
        if base_sha is None:
            raise _validation_failed("PullRequest", "invalid", field="base")
        if self._find_open(branch, base) is not None:
            raise _validation_failed(
                "PullRequest", "custom", f"A pull request already exists for {self.owner}:{branch}."
            )
        if int(self._git("rev-list", "--count", head_sha, f"^{base_sha}").decode()) == 0:
            raise _validation_failed(
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
            raise _error(404, "Not Found")
        return pull

    def _get_pull(self, _body: Any, _query: Any, number: str) -> tuple[int, Any]:
        return 200, self._pull_json(self._pull(number))

    def _update_pull(self, body: Any, _query: Any, number: str) -> tuple[int, Any]:
        pull = self._pull(number)
        if not isinstance(body, dict):
            raise _error(400, "Problems parsing JSON")
        state = body.get("state")
        if state is not None and state not in ("open", "closed"):
            raise _validation_failed("PullRequest", "invalid", field="state")
        if state == "open" and pull.state == "closed":
            if pull.merged:
                raise _validation_failed(
                    "PullRequest", "custom", "state cannot be changed. The pull request is merged."
                )
            if self.branch_head(pull.head) is None:
                raise _validation_failed(
                    "PullRequest",
                    "custom",
                    f"state cannot be changed. The {pull.head} branch has been deleted.",
                )
            if self._find_open(pull.head, pull.base) is not None:
                raise _validation_failed(
                    "PullRequest",
                    "custom",
                    f"A pull request already exists for {self.owner}:{pull.head}.",
                )
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

    def _get_labels(self, _body: Any, _query: Any, number: str) -> tuple[int, Any]:
        return 200, [self._label_json(name) for name in self._pull(number).labels]

    def _add_labels(self, body: Any, _query: Any, number: str) -> tuple[int, Any]:
        pull = self._pull(number)
        names = body.get("labels") if isinstance(body, dict) else body
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise _validation_failed("Label", "invalid", field="labels")
        for name in names:
            if name not in pull.labels:
                pull.labels.append(name)
        pull.updated_at = datetime.now(UTC)
        return 200, [self._label_json(name) for name in pull.labels]

    # -- git ---------------------------------------------------------------------------------

    def _run_git(
        self, args: list[str], *, input: bytes | None = None, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            ["git", "--git-dir", str(self.git_dir), *args],
            input=input if input is not None else b"",
            capture_output=True,
            env={**_git_env(), **(env or {})},
            check=False,
        )

    def _git(
        self, *args: str, input: bytes | None = None, env: Mapping[str, str] | None = None
    ) -> bytes:
        proc = self._run_git(list(args), input=input, env=env)
        if proc.returncode != 0:
            raise _GitFailed(f"git {' '.join(args)}: {proc.stderr.decode().strip()}")
        return proc.stdout

    def _object_type(self, sha: str) -> str | None:
        if not _SHA.match(sha):
            return None
        proc = self._run_git(["cat-file", "-t", sha])
        return proc.stdout.decode().strip() if proc.returncode == 0 else None

    def _is_commit(self, sha: str) -> bool:
        return self._object_type(sha) == "commit"

    def _commit_tree_sha(self, commit: str) -> str:
        return self._git("rev-parse", f"{commit}^{{tree}}").decode().strip()

    def _build_tree(self, base_tree: str | None, entries: list[JsonDict]) -> str:
        """A tree: ``base_tree`` with ``entries`` (sha None removes a path), via a
        temporary index."""
        with tempfile.TemporaryDirectory(prefix="fixloop-gh-index-") as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            if base_tree:
                self._git("read-tree", base_tree, env=env)
            else:
                self._git("read-tree", "--empty", env=env)
            removed = [e["path"] for e in entries if e["sha"] is None]
            added = [f"{e['mode']},{e['sha']},{e['path']}" for e in entries if e["sha"] is not None]
            if removed:  # --force-remove wants a work tree; mode 0 removes in a bare repo
                records = "".join(f"0 {ZERO_SHA}\t{path}\0" for path in removed)
                self._git("update-index", "-z", "--index-info", input=records.encode(), env=env)
            if added:
                args = [arg for info in added for arg in ("--cacheinfo", info)]
                self._git("update-index", "--add", *args, env=env)
            return self._git("write-tree", env=env).decode().strip()

    def _commit_tree(
        self,
        tree: str,
        parents: list[str],
        message: str,
        author: Mapping[str, Any],
        committer: Mapping[str, Any],
    ) -> str:
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
        return self._git(*args, input=message.encode(), env=env).decode().strip()

    def _parse_commit(self, sha: str) -> JsonDict:
        raw = self._git("cat-file", "commit", sha).decode("utf-8", "replace")
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
        return {"name": value, "email": "", "date": _iso(datetime.now(UTC))}
    name, email, epoch, offset = match.groups()
    sign = -1 if offset[0] == "-" else 1
    zone = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5])))
    return {"name": name, "email": email, "date": _iso(datetime.fromtimestamp(int(epoch), zone))}


def _git_date(value: str) -> str:
    """An ISO 8601 date as git's internal format ``EPOCH +HHMM``."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise _error(422, f"Invalid date {value!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    offset = moment.utcoffset() or timedelta()
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{int(moment.timestamp())} {sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"


def _git_env() -> dict[str, str]:
    env = clean_git_env()
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    return env


def _field(body: Any, name: str, kind: type) -> Any:
    if not isinstance(body, dict):
        raise _error(400, "Problems parsing JSON")
    value = body.get(name)
    if not isinstance(value, kind):
        raise _error(422, f'Invalid request.\n\n"{name}" wasn\'t supplied.')
    return value


def _handler_for(server: GitHubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(_GitHubHandler):
        owner = server

    return Handler


class _GitHubHandler(BaseHTTPRequestHandler):
    owner: GitHubServer
    protocol_version = "HTTP/1.1"
    # One write per response, sent at once: headers and body in separate small segments
    # meet the client's delayed ACK (Nagle) and cost 40 ms a request.
    wbufsize = 1 << 16
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output quiet

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = raw.decode("utf-8", "replace")
        url = urlsplit(self.path)
        request = RecordedRequest(
            method=method,
            path=url.path,
            query=parse_qs(url.query),
            body=body,
            headers={name.lower(): value for name, value in self.headers.items()},
        )
        status, payload, headers, drop = self.owner._handle(request)
        if drop:
            self.close_connection = True  # processed, but the client never hears of it
            return
        data = json.dumps(payload).encode() if payload is not None else b""
        self.send_response(status)
        if payload is not None:
            self.send_header("content-type", "application/json; charset=utf-8")
        self.send_header("content-length", str(len(data)))
        self.send_header("x-github-media-type", "github.v3; format=json")
        self.send_header("etag", f'W/"{hashlib.sha1(data).hexdigest()}"')
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()
