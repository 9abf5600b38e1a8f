"""Unverified fixes on GitHub: a draft pull request labelled ``unverified``, made ready for
review and unlabelled once a verified change updates it; and where the repository's plan
has no drafts, an ordinary one, still labelled. The local GitHub refuses what GitHub
refuses (tests/fakes/github)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from fixloop.delivery.protocol import DEFAULT_LABELS, UNVERIFIED_LABEL
from fixloop.sandbox.workspace import FileChange
from tests.fakes.github import GitHubServer
from tests.integration.test_github_delivery import _b64, code_host, make_draft
from tests.support import head

UNVERIFIED = {"draft": True, "labels": [*DEFAULT_LABELS, UNVERIFIED_LABEL]}


@pytest.fixture
def server(repo: Path) -> Iterator[GitHubServer]:
    with GitHubServer(repo) as srv:
        yield srv


@pytest.fixture
def base(repo: Path) -> str:
    return head(repo)


def _api(server: GitHubServer, method: str, path: str, body: Any = None) -> requests.Response:
    return requests.request(
        method,
        f"{server.base_url}{path}",
        json=body,
        headers={"Authorization": f"token {server.token}"},
        timeout=10,
    )


def test_an_unverified_fix_is_a_labelled_draft_until_a_verified_change_updates_it(
    server: GitHubServer, base: str
) -> None:
    host = code_host(server)
    # When an unverified fix is delivered
    first = host.deliver(make_draft(base, **UNVERIFIED))
    # Then it is a draft labelled unverified
    (pull,) = server.pulls
    assert pull.draft is True
    assert pull.labels == ("fixloop", "automated-fix", "unverified")
    # When a verified change of the same investigation updates it
    since = len(server.endpoints())
    other = b"def handle(event):\n    return (event.get('user') or {}).get('id')\n"
    verified = make_draft(base, files=[FileChange(path="app/handler.py", content_b64=_b64(other))])
    again = host.deliver(verified)
    # Then the same pull request is marked ready for review (GraphQL: REST cannot) and the
    # unverified label is taken off
    assert again.number == first.number and not again.created
    (pull,) = server.pulls
    assert pull.draft is False
    assert pull.labels == ("fixloop", "automated-fix")
    done = server.endpoints()[since:]
    assert "POST /graphql" in done
    assert f"DELETE issues/{first.number}/labels/unverified" in done


def test_a_repository_without_drafts_gets_an_ordinary_labelled_pull_request(
    server: GitHubServer, base: str
) -> None:
    # Given a repository whose plan has no drafts (a private one on GitHub Free)
    server.refuse_drafts()
    # When an unverified fix is delivered
    host = code_host(server)
    host.deliver(make_draft(base, **UNVERIFIED))
    # Then GitHub refused the draft, and the pull request was opened without it, labelled
    (pull,) = server.pulls
    assert pull.draft is False
    assert "unverified" in pull.labels
    posts = [r for r in server.requests if r.endpoint == "POST pulls"]
    assert [r.status for r in posts] == [422, 201]
    assert [r.body["draft"] for r in posts] == [True, False]


def test_the_local_github_refuses_what_github_refuses_about_drafts_and_labels(
    server: GitHubServer, base: str
) -> None:
    code_host(server).deliver(make_draft(base, **UNVERIFIED))
    (pull,) = server.pulls
    repo = f"/repos/{server.full_name}"
    # PATCH has no draft parameter: it is ignored
    assert _api(server, "PATCH", f"{repo}/pulls/{pull.number}", {"draft": False}).ok
    assert server.pulls[0].draft is True
    # Removing a label the pull request does not have is 404
    missing = _api(server, "DELETE", f"{repo}/issues/{pull.number}/labels/nope")
    assert (missing.status_code, missing.json()["message"]) == (404, "Label does not exist")
    # A node id that names nothing is a GraphQL NOT_FOUND error (HTTP 200)
    mutation = (
        "mutation Mutation($input: MarkPullRequestReadyForReviewInput!) "
        "{ markPullRequestReadyForReview(input: $input) { pullRequest { isDraft } } }"
    )
    unknown = _api(
        server,
        "POST",
        "/graphql",
        {"query": mutation, "variables": {"input": {"pullRequestId": "nope"}}},
    )
    assert unknown.status_code == 200
    assert unknown.json()["errors"][0]["type"] == "NOT_FOUND"
    # A draft cannot be created where the plan has none
    server.close_pull(pull.number)
    server.refuse_drafts()
    refused = _api(
        server,
        "POST",
        f"{repo}/pulls",
        {"head": pull.head, "base": pull.base, "title": "t", "draft": True},
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["message"] == (
        "Draft pull requests are not supported in this repository."
    )
