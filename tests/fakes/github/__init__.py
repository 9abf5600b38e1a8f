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
``GET`` / ``PATCH pulls/{n}``, ``GET`` / ``POST issues/{n}/labels``, ``DELETE
issues/{n}/labels/{name}``; ``POST /graphql`` for the draft mutations (ready for review,
convert to draft); and ``POST /app/installations/{id}/access_tokens`` for GitHub App
installation tokens (a RS256 JWT signed by the configured app key).

Every request needs ``Authorization: token X`` or ``Bearer X`` with X in :attr:`tokens`
(else 401 "Bad credentials"); another repository is 404 "Not Found". Test controls:
:meth:`fail_after` (a lost response), :meth:`rate_limit` (primary or secondary limits),
:meth:`protect` (branch protection), :meth:`inject_error` (any error reply),
:meth:`advance` (the base branch moves), :meth:`close_pull`, :meth:`refuse_drafts` (a plan
without draft pull requests). Every request is recorded in
:attr:`requests`.
"""

from __future__ import annotations

from tests.fakes.github.protocol import RecordedRequest
from tests.fakes.github.pulls import PullRequestState
from tests.fakes.github.server import GitHubServer

__all__ = ["GitHubServer", "PullRequestState", "RecordedRequest"]
