"""Pick the code host for an investigation: GitHub when it names a GitHub repository, else
the local git repository it was opened on."""

from __future__ import annotations

from pathlib import Path

from fixloop.config import get_settings
from fixloop.credentials.github import github_auth_from_env, github_auth_from_secret
from fixloop.delivery.github import GitHubCodeHost
from fixloop.delivery.local import LocalGitCodeHost
from fixloop.delivery.protocol import CodeHost, DeliveryError
from fixloop.domain import Investigation


def code_host_for(investigation: Investigation) -> CodeHost:
    settings = get_settings()
    if investigation.github_repo:
        auth = (
            github_auth_from_secret(settings.github_secret_arn)
            if settings.github_secret_arn
            else github_auth_from_env()
        )
        return GitHubCodeHost(
            investigation.github_repo,
            auth,
            base_url=settings.github_api_url,
            seconds_between_writes=settings.github_seconds_between_writes,
        )
    repo = Path(investigation.repo)
    if not (repo / ".git").exists() and not (repo / "HEAD").is_file():
        raise DeliveryError(
            f"no code host for {investigation.repo!r}: it is not a local git repository, and "
            "no GitHub repository is configured for the investigation"
        )
    return LocalGitCodeHost(repo)
