"""Credentials in one home: secrets from Secrets Manager (or the environment locally), the
GitHub credentials delivery uses, and the read-only token the sandbox clones with."""

from fixloop.credentials.github import (
    github_auth_from_env,
    github_auth_from_secret,
    github_auth_from_value,
    installation_token,
)
from fixloop.credentials.secrets import secret_value

__all__ = [
    "github_auth_from_env",
    "github_auth_from_secret",
    "github_auth_from_value",
    "installation_token",
    "secret_value",
]
