"""Delivery to GitHub with the real PyGithub against a local GitHub API backed by a real bare
git repository (tests.fakes.github)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from github import Auth, GithubRetry

from fixloop.credentials.github import (
    github_auth_from_env,
    github_auth_from_secret,
    github_auth_from_value,
)
from fixloop.delivery.github import DeliveryRetry, GitHubCodeHost
from fixloop.delivery.protocol import DeliveryError, PullRequestDraft, branch_for
from fixloop.errors import ConfigError, TransientError
from fixloop.sandbox.workspace import FileChange
from tests.conftest import TEST_SECRET_PREFIX, moto_secretsmanager
from tests.fakes.github import GitHubServer
from tests.support import head, rsa_key_pair

BRANCH = branch_for("inv-1")
SECRET_PREFIX = f"{TEST_SECRET_PREFIX}github-"
AUTHORED_AT = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
NEW_HANDLER = b"def handle(event):\n    return event.get('user', {}).get('id')\n"
FIRST_DELIVERY = [
    "GET repo",
    "GET git/commits/{base}",
    "GET branches/main",
    "POST git/blobs",
    "POST git/blobs",
    "POST git/trees",
    f"GET git/ref/heads/{BRANCH}",
    "POST git/commits",
    "POST git/refs",
    "GET pulls",
    "POST pulls",
    "POST issues/1/labels",
]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def make_draft(base: str, **changes: Any) -> PullRequestDraft:
    """The fix: a changed handler, a new executable script, the README deleted."""
    fields: dict[str, Any] = {
        "investigation_id": "inv-1",
        "base_commit": base,
        "branch": BRANCH,
        "title": "Handle events without a user",
        "body": "The handler crashed on events without `user`.",
        "commit_message": "Handle events without a user\n\nFound by fixloop.",
        "patch": "",
        "files": [
            FileChange(path="app/handler.py", content_b64=_b64(NEW_HANDLER)),
            FileChange(path="bin/check.sh", mode="100755", content_b64=_b64(b"#!/bin/sh\n")),
            FileChange(path="README.md"),
        ],
        "authored_at": AUTHORED_AT,
    }
    fields.update(changes)
    return PullRequestDraft(**fields)


def code_host(
    server: GitHubServer,
    *,
    retry: GithubRetry | None = None,
    token: str | None = None,
    repo: str | None = None,
) -> GitHubCodeHost:
    return GitHubCodeHost(
        repo or server.full_name,
        Auth.Token(token or server.token),
        base_url=server.base_url,
        retry=retry if retry is not None else DeliveryRetry(sleep=_no_sleep),
        seconds_between_requests=None,
        seconds_between_writes=None,
    )


def _no_sleep(seconds: float) -> None:
    raise AssertionError(f"unexpected wait of {seconds}s")


def no_retries() -> GithubRetry:
    return GithubRetry(total=0)


def git(server: GitHubServer, *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(server.git_dir), *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def writes(server: GitHubServer, since: int = 0) -> list[str]:
    return [e for e in server.endpoints()[since:] if not e.startswith("GET ")]


@pytest.fixture
def server(repo: Path) -> Iterator[GitHubServer]:
    with GitHubServer(repo) as srv:
        yield srv


@pytest.fixture
def base(repo: Path) -> str:
    return head(repo)


# -- the happy paths --------------------------------------------------------------------------


def test_first_delivery_creates_a_branch_one_commit_and_a_pull_request(
    server: GitHubServer, base: str
) -> None:
    # Given a repository on GitHub and a fix against its head
    draft = make_draft(base)

    # When the fix is delivered
    ref = code_host(server).deliver(draft)

    # Then the branch holds one commit on the base with exactly the change
    sha = server.branch_head(BRANCH)
    assert sha is not None
    assert ref.head_sha == sha
    assert server.parents(sha) == [base]
    assert server.commit_count(BRANCH, since=base) == 1
    assert server.read_file(BRANCH, "app/handler.py") == NEW_HANDLER
    assert server.read_file(BRANCH, "bin/check.sh") == b"#!/bin/sh\n"
    assert server.read_file(BRANCH, "README.md") is None
    assert server.read_file(BRANCH, "app/util.py") == server.read_file(base, "app/util.py")
    assert git(server, "ls-tree", sha, "bin/check.sh").startswith("100755 blob")
    # ... authored by fixloop at the draft's fixed time, with the draft's message
    log = git(server, "log", "-1", "--format=%an|%ae|%aI|%cn|%cI|%B", sha)
    assert log == (
        "fixloop|fixloop@users.noreply.github.com|2026-11-22T09:30:00+00:00|fixloop|"
        "2026-11-22T09:30:00+00:00|Handle events without a user\n\nFound by fixloop."
    )

    # And one open pull request from the branch into the default branch, labelled
    (pull,) = server.pulls
    assert (pull.number, pull.head, pull.base, pull.state) == (1, BRANCH, "main", "open")
    assert (pull.title, pull.body) == (draft.title, draft.body)
    assert pull.labels == ("fixloop", "automated-fix")
    assert pull.head_sha == sha
    assert (pull.draft, pull.maintainer_can_modify) == (False, True)
    assert ref.created is True
    assert (ref.number, ref.branch, ref.base) == (1, BRANCH, "main")
    assert ref.url == f"{server.base_url}/acme/svc/pull/1"

    # And the requests were these, in this order, all authenticated
    assert server.endpoints() == [e.format(base=base) for e in FIRST_DELIVERY]
    assert {r.headers["authorization"] for r in server.requests} == {f"token {server.token}"}
    pulls_query = server.requests[FIRST_DELIVERY.index("GET pulls")].query
    assert pulls_query["head"] == [f"acme:{BRANCH}"]
    assert pulls_query["state"] == ["all"]
    tree = server.requests[FIRST_DELIVERY.index("POST git/trees")].body
    assert tree["base_tree"] == git(server, "rev-parse", f"{base}^{{tree}}")
    assert {"path": "README.md", "mode": "100644", "type": "blob", "sha": None} in tree["tree"]
    commit = server.requests[FIRST_DELIVERY.index("POST git/commits")].body
    assert commit["parents"] == [base]
    assert commit["author"]["date"] == "2026-11-22T09:30:00Z"
    assert server.requests[FIRST_DELIVERY.index("POST pulls")].body == {
        "base": "main",
        "head": BRANCH,
        "title": draft.title,
        "body": draft.body,
        "maintainer_can_modify": True,
        "draft": False,
    }


def test_delivering_the_same_draft_again_changes_nothing(server: GitHubServer, base: str) -> None:
    # Given a delivered fix
    host = code_host(server)
    first = host.deliver(make_draft(base))
    before = len(server.requests)

    # When the same draft is delivered again
    again = host.deliver(make_draft(base))

    # Then the branch keeps its commit, the pull request is found, not duplicated
    assert again.head_sha == first.head_sha == server.branch_head(BRANCH)
    assert server.commit_count(BRANCH, since=base) == 1
    assert again.created is False
    assert again.number == first.number
    assert len(server.pulls) == 1
    # ... and the only writes are the content-addressed blobs and tree
    assert writes(server, before) == ["POST git/blobs", "POST git/blobs", "POST git/trees"]


def test_a_second_change_replaces_the_commit_and_updates_the_same_pull_request(
    server: GitHubServer, base: str
) -> None:
    # Given a delivered fix
    host = code_host(server)
    first = host.deliver(make_draft(base))
    before = len(server.requests)

    # When a different change of the same investigation is delivered
    better = b"def handle(event):\n    return (event.get('user') or {}).get('id')\n"
    second = host.deliver(
        make_draft(
            base,
            title="Handle events without a user (or with a null one)",
            files=[FileChange(path="app/handler.py", content_b64=_b64(better))],
        )
    )

    # Then one new commit on the base is written and the branch moves to it (forced)
    assert writes(server, before) == [
        "POST git/blobs",
        "POST git/trees",
        "POST git/commits",
        f"PATCH git/refs/heads/{BRANCH}",
        "PATCH pulls/1",
    ]
    patch_ref = server.requests[server.endpoints().index(f"PATCH git/refs/heads/{BRANCH}")]
    assert patch_ref.body == {"sha": second.head_sha, "force": True}
    assert second.head_sha != first.head_sha
    assert server.branch_head(BRANCH) == second.head_sha
    assert server.parents(second.head_sha) == [base]
    assert server.commit_count(BRANCH, since=base) == 1
    assert server.read_file(BRANCH, "app/handler.py") == better
    assert server.read_file(BRANCH, "README.md") == server.read_file(base, "README.md")

    # And the same pull request shows it with the new title
    assert (second.number, second.created) == (first.number, False)
    (pull,) = server.pulls
    assert pull.title == "Handle events without a user (or with a null one)"
    assert pull.head_sha == second.head_sha


def test_a_closed_unmerged_pull_request_is_reopened(server: GitHubServer, base: str) -> None:
    # Given a delivered fix whose pull request a reviewer closed without merging
    host = code_host(server)
    first = host.deliver(make_draft(base))
    server.close_pull(first.number)

    # When the investigation delivers again
    again = host.deliver(make_draft(base, body="Now with a test."))

    # Then the same pull request is open again with the new body
    (pull,) = server.pulls
    assert (pull.number, pull.state, pull.body) == (first.number, "open", "Now with a test.")
    assert again.created is False
    patch = next(r for r in server.requests if r.endpoint == "PATCH pulls/1")
    assert patch.body == {"state": "open", "body": "Now with a test."}


def test_a_merged_pull_request_is_not_reopened(server: GitHubServer, base: str) -> None:
    # Given a delivered fix whose pull request was merged
    host = code_host(server)
    first = host.deliver(make_draft(base))
    server.close_pull(first.number, merged=True)

    # When the investigation delivers another change, then a new pull request carries it
    other = b"def handle(event):\n    return None\n"
    again = host.deliver(
        make_draft(base, files=[FileChange(path="app/handler.py", content_b64=_b64(other))])
    )
    assert (again.number, again.created) == (2, True)
    assert [(p.number, p.state, p.merged) for p in server.pulls] == [
        (1, "closed", True),
        (2, "open", False),
    ]


def test_a_moved_base_branch_is_noted_in_the_body(server: GitHubServer, base: str) -> None:
    # Given the default branch moved on after the investigated commit
    moved = server.advance("main", {"CHANGELOG.md": "v2\n"})

    # When the fix is delivered
    ref = code_host(server).deliver(make_draft(base))

    # Then the commit is still on the investigated commit, and the body says the base moved
    assert server.parents(ref.head_sha) == [base]
    (pull,) = server.pulls
    assert pull.body.startswith(make_draft(base).body)
    assert f"based on {base[:12]}" in pull.body
    assert f"the base branch main has moved since (now at {moved[:12]})" in pull.body


# -- lost responses ---------------------------------------------------------------------------


def test_every_lost_response_is_recovered_by_delivering_again(repo: Path, base: str) -> None:
    # Given the requests a first delivery makes, and its result
    with GitHubServer(repo) as reference:
        expected = code_host(reference, retry=no_retries()).deliver(make_draft(base))
        count = len(reference.requests)
    assert count == len(FIRST_DELIVERY)

    for k in range(1, count + 1):
        with GitHubServer(repo) as server:
            # Given GitHub processes request k but its response is lost (no client retries)
            server.fail_after(k)
            host = code_host(server, retry=no_retries())

            # When the delivery fails there, then it fails as transient (the state machine
            # retries it)
            with pytest.raises(TransientError, match="could not be reached"):
                host.deliver(make_draft(base))
            assert server.requests[k - 1].status is None, k
            assert len(server.requests) == k, k

            # And delivering again converges on the same single commit and pull request
            ref = host.deliver(make_draft(base))
            assert ref.head_sha == expected.head_sha, k
            assert server.branch_head(BRANCH) == expected.head_sha, k
            assert server.commit_count(BRANCH, since=base) == 1, k
            (pull,) = server.pulls
            assert (pull.number, pull.state, pull.labels) == (
                1,
                "open",
                ("fixloop", "automated-fix"),
            )
            lost_after_opening = k >= FIRST_DELIVERY.index("POST pulls") + 1
            assert ref.created is not lost_after_opening, k


def test_lost_responses_retried_within_the_request_converge(repo: Path, base: str) -> None:
    # Given the default retry policy, which repeats GET, POST and PATCH after a lost response
    for k in range(1, len(FIRST_DELIVERY) + 1):
        with GitHubServer(repo) as server:
            server.fail_after(k)
            host = code_host(server)

            # When request k loses its response, then the delivery still succeeds (a repeated
            # POST git/refs or POST pulls meets "already exists" and takes the update path)
            ref = host.deliver(make_draft(base))
            assert server.requests[k - 1].status is None, k
            if FIRST_DELIVERY[k - 1] in ("POST git/refs", "POST pulls"):
                assert server.requests[k].status == 422, k  # "... already exists"

            # And there is one commit, one pull request; delivering again changes nothing
            assert server.commit_count(BRANCH, since=base) == 1, k
            assert len(server.pulls) == 1, k
            assert ref.number == 1, k
            again = host.deliver(make_draft(base))
            assert (again.head_sha, again.created) == (ref.head_sha, False), k
            assert len(server.pulls) == 1, k


# -- refusals ---------------------------------------------------------------------------------


def _nothing_created(server: GitHubServer) -> None:
    assert server.branch_head(BRANCH) is None
    assert server.pulls == []
    made = [r for r in server.requests if r.endpoint in ("POST git/refs", "POST pulls")]
    assert [r for r in made if r.status is not None and r.status < 300] == []


def test_an_unknown_repository_is_a_delivery_error(server: GitHubServer, base: str) -> None:
    # When delivering to a repository GitHub does not show these credentials
    with pytest.raises(DeliveryError) as caught:
        code_host(server, repo="acme/nope").deliver(make_draft(base))

    # Then the message says which, and nothing is written
    assert str(caught.value).startswith(
        "repository acme/nope does not exist or these credentials cannot see it"
    )
    assert server.endpoints() == ["GET repo"]
    _nothing_created(server)


def test_an_expired_token_is_a_delivery_error(server: GitHubServer, base: str) -> None:
    # Given the token was revoked (or expired)
    server.tokens.clear()

    # When delivering, then the message names the credentials and what to do
    with pytest.raises(DeliveryError) as caught:
        code_host(server).deliver(make_draft(base))
    message = str(caught.value)
    assert message.startswith("GitHub rejected the credentials (Bad credentials)")
    assert "expired or revoked" in message
    assert "Renew the token" in message
    assert [r.status for r in server.requests] == [401]
    _nothing_created(server)


def test_a_protected_fixloop_branch_is_a_delivery_error(server: GitHubServer, base: str) -> None:
    # Given a ruleset that forbids creating fixloop/* branches
    server.protect("fixloop/*")

    # When delivering
    with pytest.raises(DeliveryError) as caught:
        code_host(server).deliver(make_draft(base))

    # Then the message names the branch and the rule, and says what to change
    message = str(caught.value)
    assert f"branch {BRANCH} is protected" in message
    assert "Cannot create ref due to creations being restricted" in message
    assert "Exempt fixloop/* branches" in message
    _nothing_created(server)


def test_a_missing_base_commit_is_a_delivery_error(server: GitHubServer) -> None:
    # Given a base commit GitHub does not have (force-pushed away, or never pushed)
    missing = "0123456789abcdef0123456789abcdef01234567"

    # When delivering
    with pytest.raises(DeliveryError) as caught:
        code_host(server).deliver(make_draft(missing))

    # Then the message names the commit and the likely cause; nothing at all is written
    assert str(caught.value).startswith(
        f"commit {missing} is not in acme/svc (was the base force-pushed?)"
    )
    assert writes(server) == []
    _nothing_created(server)


def test_missing_permissions_are_a_delivery_error(server: GitHubServer, base: str) -> None:
    # Given credentials that may read but not write contents
    server.inject_error(403, "Resource not accessible by integration", when="POST */git/blobs")

    # When delivering, then the message names the permissions to grant
    with pytest.raises(DeliveryError) as caught:
        code_host(server).deliver(make_draft(base))
    message = str(caught.value)
    assert "Resource not accessible by integration" in message
    assert "contents: write and pull requests: write on acme/svc" in message
    _nothing_created(server)


def test_server_errors_are_retried_then_transient(server: GitHubServer, base: str) -> None:
    # Given GitHub answers 502 twice to the commit
    waits: list[float] = []
    server.inject_error(502, "Server Error", times=2, when="POST */git/commits")

    # When delivering with the default policy, then it backs off and succeeds
    ref = code_host(server, retry=DeliveryRetry(sleep=waits.append)).deliver(make_draft(base))
    assert server.branch_head(BRANCH) == ref.head_sha
    assert server.endpoints().count("POST git/commits") == 3
    assert waits == [2.0]  # urllib3: no wait before the first retry, then 1 * 2**1

    # And when 5xx persists beyond the retries, the delivery fails as transient
    server.inject_error(503, "Service Unavailable", times=10, when="GET */pulls")
    with pytest.raises(TransientError, match="beyond the retries"):
        code_host(server, retry=DeliveryRetry(total=2, sleep=waits.append)).deliver(
            make_draft(base)
        )


def test_another_branch_is_only_fast_forwarded(server: GitHubServer, base: str) -> None:
    # Given a fix delivered to a branch outside fixloop/
    host = code_host(server)
    first = host.deliver(make_draft(base, branch="hotfix/inv-1"))

    # When a different change would replace its commit, then fixloop does not force it
    other = b"def handle(event):\n    return None\n"
    with pytest.raises(DeliveryError, match="cannot be fast-forwarded") as caught:
        host.deliver(
            make_draft(
                base,
                branch="hotfix/inv-1",
                files=[FileChange(path="app/handler.py", content_b64=_b64(other))],
            )
        )
    assert "force-updates only its own fixloop/* branches" in str(caught.value)
    assert server.branch_head("hotfix/inv-1") == first.head_sha
    patch = server.requests[server.endpoints().index("PATCH git/refs/heads/hotfix/inv-1")]
    assert patch.body["force"] is False


def test_an_empty_change_is_not_delivered(server: GitHubServer, base: str) -> None:
    # Given a "change" that writes the files as they are
    same = server.read_file(base, "README.md")
    assert same is not None
    draft = make_draft(base, files=[FileChange(path="README.md", content_b64=_b64(same))])

    # When delivering, then there is nothing to deliver and nothing is created
    with pytest.raises(DeliveryError, match="nothing to deliver"):
        code_host(server).deliver(draft)
    _nothing_created(server)


def test_delivering_onto_the_default_branch_is_refused(server: GitHubServer, base: str) -> None:
    with pytest.raises(DeliveryError, match="refusing to deliver to main"):
        code_host(server).deliver(make_draft(base, branch="main"))
    assert writes(server) == []


# -- rate limits ------------------------------------------------------------------------------


def test_a_primary_rate_limit_waits_until_the_reset(server: GitHubServer, base: str) -> None:
    # Given the primary rate limit is exhausted when the commit is written (reset in 1 s)
    waits: list[float] = []
    server.rate_limit("primary", when="POST */git/commits", reset_in=1)

    # When delivering
    ref = code_host(server, retry=DeliveryRetry(sleep=waits.append)).deliver(make_draft(base))

    # Then the client waited until the reset (+1 s, as GithubRetry does) and retried once
    assert server.branch_head(BRANCH) == ref.head_sha
    assert [r.status for r in server.requests if r.endpoint == "POST git/commits"] == [403, 201]
    (wait,) = waits
    assert 1.0 <= wait <= 2.5


def test_a_secondary_rate_limit_waits_retry_after(server: GitHubServer, base: str) -> None:
    # Given a secondary rate limit with retry-after: 1 on opening the pull request
    waits: list[float] = []
    server.rate_limit("secondary", when="POST */pulls", retry_after=1)

    # When delivering, then the client waits retry-after and retries once
    ref = code_host(server, retry=DeliveryRetry(sleep=waits.append)).deliver(make_draft(base))
    assert ref.created is True
    assert [r.status for r in server.requests if r.endpoint == "POST pulls"] == [403, 201]
    assert waits == [1.0]
    assert len(server.pulls) == 1


def test_a_secondary_rate_limit_without_retry_after_waits_a_minute(
    server: GitHubServer, base: str
) -> None:
    # Given secondary limits without retry-after, twice in a row
    waits: list[float] = []
    server.rate_limit("secondary", times=2, when="POST */git/blobs", retry_after=None)

    # When delivering, then the client waits at least a minute each time, then succeeds
    code_host(server, retry=DeliveryRetry(sleep=waits.append)).deliver(make_draft(base))
    assert waits == [60.0, 60.0]
    assert server.branch_head(BRANCH) is not None


def test_a_rate_limit_answered_with_429_waits_too(server: GitHubServer, base: str) -> None:
    # Given a primary limit answered with 429 (GitHub sends 403 or 429)
    waits: list[float] = []
    server.rate_limit("primary", status=429, when="GET */branches/*", reset_in=1)

    # When delivering, then the client waits until the reset and succeeds
    code_host(server, retry=DeliveryRetry(sleep=waits.append)).deliver(make_draft(base))
    (wait,) = waits
    assert 1.0 <= wait <= 2.5
    assert len(server.pulls) == 1


def test_a_rate_limit_longer_than_the_cap_is_transient(server: GitHubServer, base: str) -> None:
    # Given a primary limit that resets in an hour, and a secondary one asking for 5 minutes
    waits: list[float] = []
    server.rate_limit("primary", reset_in=3600)

    # When delivering, then nothing is waited in-process: the delivery is retried later
    host = code_host(server, retry=DeliveryRetry(sleep=waits.append))
    with pytest.raises(TransientError, match="rate-limited"):
        host.deliver(make_draft(base))
    server.rate_limit("secondary", retry_after=300)
    with pytest.raises(TransientError, match="rate-limited"):
        host.deliver(make_draft(base))
    assert waits == []
    _nothing_created(server)


# -- credentials ------------------------------------------------------------------------------


def secret_name() -> str:
    return f"{SECRET_PREFIX}{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def app_key() -> tuple[str, str]:
    return rsa_key_pair()


def test_credentials_from_a_token_secret(secretsmanager: Any) -> None:
    # Given a secret {"token": ...}
    arn = secretsmanager.create_secret(
        Name=secret_name(), SecretString=json.dumps({"token": "ghp_abc"})
    )["ARN"]

    # When it is read, then it is token authentication
    auth = github_auth_from_secret(arn)
    assert isinstance(auth, Auth.Token)
    assert auth.token == "ghp_abc"


def test_credentials_from_a_github_app_secret(
    secretsmanager: Any, app_key: tuple[str, str]
) -> None:
    # Given a secret with a GitHub App's id, private key and installation (ids as strings,
    # the key's newlines escaped, as pasted from a console)
    private, _ = app_key
    secret = {
        "app_id": "123",
        "private_key": private.replace("\n", "\\n"),
        "installation_id": "456",
    }
    arn = secretsmanager.create_secret(Name=secret_name(), SecretString=json.dumps(secret))["ARN"]

    # When it is read, then it is installation authentication (the token refreshes itself)
    auth = github_auth_from_secret(arn)
    assert isinstance(auth, Auth.AppInstallationAuth)
    assert (auth.app_id, auth.installation_id) == ("123", 456)


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ('{"user": "me", "password": "x"}', "neither a token nor a GitHub App"),
        ('{"app_id": 1, "private_key": "-----BEGIN X-----"}', "lacks installation_id"),
        ('{"app_id": 1, "private_key": "nope", "installation_id": 2}', "not a PEM private key"),
        ('{"app_id": 1, "private_key": "-----BEGIN", "installation_id": "x"}', "must be a number"),
        ('["ghp_abc"]', "not a JSON object"),
        ("{not json", "does not parse"),
        ("-----BEGIN RSA PRIVATE KEY-----\nabc", "not a token nor JSON"),
        ("", "is empty"),
    ],
)
def test_credentials_of_an_unknown_shape_are_a_config_error(
    secretsmanager: Any, secret: str, message: str
) -> None:
    # Given a secret that is neither shape
    arn = secretsmanager.create_secret(Name=secret_name(), SecretString=secret or " ")["ARN"]

    # When it is read, then the error names the secret and the expected shapes
    with pytest.raises(ConfigError, match=message) as caught:
        github_auth_from_secret(arn)
    assert arn in str(caught.value)


def test_credentials_from_a_missing_secret_are_a_config_error(secretsmanager: Any) -> None:
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:fixloop/none-AbCdEf"
    with pytest.raises(ConfigError, match="cannot read the GitHub credentials secret"):
        github_auth_from_secret(arn)


def test_credentials_from_the_environment() -> None:
    auth = github_auth_from_env({"GITHUB_TOKEN": " ghp_env \n"})
    assert isinstance(auth, Auth.Token)
    assert auth.token == "ghp_env"
    with pytest.raises(ConfigError, match="GITHUB_TOKEN"):
        github_auth_from_env({})
    assert isinstance(github_auth_from_value("ghp_bare"), Auth.Token)


def test_the_process_aws_endpoint_and_state_survive_the_mock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given another module pointed the process at its local AWS (the embedded runtime)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "runtime-key")
    kept = f"kept-{uuid.uuid4().hex[:12]}"

    # When credentials are read inside moto's mock, and state is left in moto's backends
    with pytest.MonkeyPatch.context() as inner, moto_secretsmanager(inner) as client:
        assert "AWS_ENDPOINT_URL" not in os.environ
        arn = client.create_secret(Name=secret_name(), SecretString='{"token": "t"}')["ARN"]
        assert isinstance(github_auth_from_secret(arn), Auth.Token)
        client.create_secret(Name=kept, SecretString="x")

    # Then the endpoint and credentials are back
    assert os.environ["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9"
    assert os.environ["AWS_ACCESS_KEY_ID"] == "runtime-key"

    # And moto's process-wide state was neither reset nor removed (only our secrets went)
    with pytest.MonkeyPatch.context() as inner, moto_secretsmanager(inner) as client:
        names = [s["Name"] for s in client.list_secrets()["SecretList"]]
        assert kept in names
        assert not any(n.startswith(SECRET_PREFIX) for n in names)
        client.delete_secret(SecretId=kept, ForceDeleteWithoutRecovery=True)


def test_a_github_app_installation_delivers(
    repo: Path, base: str, app_key: tuple[str, str]
) -> None:
    # Given a GitHub that issues installation tokens to the app's signed JWTs
    private, public = app_key
    secret = json.dumps({"app_id": 42, "private_key": private, "installation_id": 7})
    with GitHubServer(repo, app_id=42, app_public_key=public, installation_id=7) as server:
        auth = github_auth_from_value(secret)
        host = GitHubCodeHost(
            server.full_name,
            auth,
            base_url=server.base_url,
            retry=DeliveryRetry(sleep=_no_sleep),
            seconds_between_requests=None,
            seconds_between_writes=None,
        )

        # When delivering with the app's credentials
        ref = host.deliver(make_draft(base))

        # Then the app traded a JWT for an installation token first, then used it
        first = server.requests[0]
        assert first.endpoint == "POST /app/installations/7/access_tokens"
        assert first.headers["authorization"].startswith("Bearer ")
        assert first.status == 201
        later = {r.headers["authorization"] for r in server.requests[1:]}
        assert later == {f"token {server.token}"}
        assert ref.created is True
        assert len(server.pulls) == 1
