"""A private GitHub repository: the sandbox clones it with a read-only token it asked for.

A local GitHub (REST, issuing installation tokens to the app's signed JWTs) and a local git
server (git's smart HTTP through ``git http-backend``, wanting GitHub's token auth) stand in
for github.com; the sandbox is the real one, on the embedded runtime.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixloop import aws
from fixloop.domain import parse_signal
from fixloop.domain.events import ToolResult
from fixloop.errors import BadInputError
from fixloop.intake import start_investigation
from fixloop.sandbox.workspace import Workspace
from tests.fakes.git_http_server import GitHttpServer
from tests.fakes.github import GitHubServer
from tests.integration.scenario import log_of
from tests.runtime import LocalRuntime
from tests.support import alarm_event, head, rsa_key_pair, tool_use, write_script

APP_ID, INSTALLATION = 42, 7


@pytest.fixture(scope="module")
def app_key() -> tuple[str, str]:
    return rsa_key_pair()


@pytest.fixture
def github(repo: Path, app_key: tuple[str, str]) -> Iterator[tuple[GitHubServer, GitHttpServer]]:
    _, public = app_key
    with GitHubServer(
        repo, app_id=APP_ID, app_public_key=public, installation_id=INSTALLATION
    ) as api:

        def read_only(token: str) -> bool:
            return api.narrowed_tokens.get(token) == {"contents": "read"}

        with GitHttpServer(api.git_dir, owner=api.owner, name=api.name, accepts=read_only) as git:
            yield api, git


def test_a_clone_without_a_token_is_refused_and_with_one_leaves_no_trace(
    github: tuple[GitHubServer, GitHttpServer], repo: Path, tmp_path: Path
) -> None:
    api, git = github
    api.narrowed_tokens["ghs_read"] = {"contents": "read"}
    # Given a private repository, a clone without credentials fails with git's reason
    with pytest.raises(BadInputError, match="cannot clone"):
        Workspace.create(tmp_path / "anon", git.clone_url, head(repo))
    # When the clone sends the token as a header
    header = "Authorization: Basic eC1hY2Nlc3MtdG9rZW46Z2hzX3JlYWQ="  # x-access-token:ghs_read
    ws = Workspace.create(tmp_path / "ws", git.clone_url, head(repo), auth_header=header)
    # Then it has the commit, and the token is nowhere in the clone's configuration
    assert ws.base_commit == head(repo)
    assert (ws.root / "app" / "handler.py").is_file()
    assert "ghs_read" not in (ws.root / ".git" / "config").read_text()
    assert "eC1hY2Nlc3M" not in (ws.root / ".git" / "config").read_text()
    anonymous, *with_token = [r.authorised for r in git.requests]
    assert anonymous is False and with_token and all(with_token)


def test_the_sandbox_clones_a_private_repository_with_a_read_only_installation_token(
    runtime: LocalRuntime,
    github: tuple[GitHubServer, GitHttpServer],
    repo: Path,
    tmp_path: Path,
    app_key: tuple[str, str],
) -> None:
    api, git = github
    private, _ = app_key
    # Given fixloop's GitHub App credentials in Secrets Manager
    secret = {"app_id": APP_ID, "private_key": private, "installation_id": INSTALLATION}
    arn = aws.client("secretsmanager").create_secret(
        Name=f"fixloop-test/github-{uuid.uuid4().hex[:8]}", SecretString=json.dumps(secret)
    )["ARN"]
    runtime.configure(github_secret_arn=arn, github_api_url=api.base_url)
    try:
        # When an investigation of the private repository reads a file and looks at the
        # clone's configuration and the environment its commands get
        script = write_script(
            tmp_path / "script.jsonl",
            [
                [
                    tool_use("read_file", path="app/handler.py"),
                    tool_use("run_command", command="git config --list --show-origin; env"),
                ],
                [tool_use("finish", summary="Read it.")],
            ],
        )
        inv = start_investigation(
            parse_signal(alarm_event()),
            repo=git.clone_url,
            commit=head(repo),
            model=f"scripted:{script}",
            github_repo=api.full_name,
        )
        ended = runtime.watcher.wait(inv.investigation_id, timeout_s=120)
    finally:
        runtime.configure(github_secret_arn=None, github_api_url=None)
    # Then the sandbox read the file from its clone
    assert ended.status == "finished", ended.outcome
    results = {
        e.event.name: e.event
        for e in log_of(inv.investigation_id)
        if isinstance(e.event, ToolResult)
    }
    assert not results["read_file"].is_error
    assert "return event['user']['id']" in results["read_file"].content
    # And the token it cloned with was an installation token narrowed to reading contents
    # (one per sandbox start: a slow machine may start a replacement)
    asked = [r for r in api.requests if r.endpoint.endswith("/access_tokens")]
    assert asked and all(r.body == {"permissions": {"contents": "read"}} for r in asked)
    assert len(api.narrowed_tokens) == len(asked)
    assert git.requests and all(r.authorised for r in git.requests)
    assert {r.token for r in git.requests} <= set(api.narrowed_tokens)
    # And neither the token nor the app's key reached the clone or the commands' environment
    command = results["run_command"].content
    assert "exit code 0" in command
    assert not any(token in command for token in api.narrowed_tokens)
    assert "PRIVATE KEY" not in command
