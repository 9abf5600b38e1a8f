"""Repo Token: a token that can only read the investigation's repository, for its sandbox.

The sandbox runs the repository's own code, so it never holds the GitHub credentials: it
invokes the Repo Token function, which reads the credentials secret and returns, for a GitHub
App, a fresh installation token narrowed to ``{"contents": "read"}`` (an hour long), or a
personal token as it is (it cannot be narrowed).
"""

from __future__ import annotations

from pydantic import BaseModel

from fixloop.config import get_settings
from fixloop.credentials.github import github_auth_from_secret, installation_token
from fixloop.store import stores

__all__ = ["READ_CONTENTS", "RepoTokenRequest", "clone_token"]

READ_CONTENTS = {"contents": "read"}


class RepoTokenRequest(BaseModel):
    investigation_id: str


def clone_token(investigation_id: str) -> str | None:
    """(Repo Token function) A token that can read the investigation's GitHub repository;
    None when it has none or fixloop has no GitHub credentials (a public repository)."""
    settings = get_settings()
    investigation = stores().investigations.get(investigation_id)
    if not (investigation.github_repo and settings.github_secret_arn):
        return None
    auth = github_auth_from_secret(settings.github_secret_arn, permissions=READ_CONTENTS)
    return installation_token(auth, settings.github_api_url)
