"""GitHub credentials: a GitHub App installation (preferred) or a token, for delivery and,
narrowed to reading contents, for the sandbox's clone (:mod:`fixloop.credentials.repo_token`).

In AWS the credentials live in a Secrets Manager secret whose string is JSON, either

- ``{"app_id": 123, "private_key": "-----BEGIN RSA PRIVATE KEY-----...", "installation_id":
  456}``: a GitHub App installation. PyGithub signs a short JWT with the key and trades it for
  an installation token when needed, renewing it before it expires, so nothing here expires;
- ``{"token": "ghp_..."}``: a personal access token (fine-grained: contents and pull requests
  read and write on the repository), or the bare token as the whole secret string.

The CLI takes a token from the ``GITHUB_TOKEN`` environment variable instead.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from github import Auth, Github, GithubException

from fixloop import aws
from fixloop.errors import ConfigError, TransientError

__all__ = [
    "github_auth_from_env",
    "github_auth_from_secret",
    "github_auth_from_value",
    "installation_token",
]

_SHAPES = (
    'expected {"token": "..."} or {"app_id": ..., "private_key": "-----BEGIN ...", '
    '"installation_id": ...}'
)
_BARE_TOKEN = re.compile(r"^[A-Za-z0-9_.-]+$")
_TRANSIENT_CODES = {
    "ThrottlingException",
    "InternalServiceError",
    "InternalFailure",
    "ServiceUnavailable",
    "RequestTimeout",
}


def github_auth_from_secret(
    secret_arn: str, *, permissions: dict[str, str] | None = None
) -> Auth.Auth:
    """The GitHub credentials in a Secrets Manager secret (see the module docstring).

    Raises ConfigError when the secret cannot be read for a lasting reason (missing, no
    permission) or holds something else; TransientError when Secrets Manager throttles or
    fails."""
    try:
        secret = aws.client("secretsmanager").get_secret_value(SecretId=secret_arn)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in _TRANSIENT_CODES:
            raise TransientError(f"cannot read GitHub secret {secret_arn} now: {exc}") from exc
        raise ConfigError(f"cannot read the GitHub credentials secret {secret_arn}: {exc}") from exc
    except BotoCoreError as exc:
        raise TransientError(f"cannot read GitHub secret {secret_arn} now: {exc}") from exc
    text = secret.get("SecretString")
    if text is None and secret.get("SecretBinary") is not None:
        raw = secret["SecretBinary"]
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return github_auth_from_value(
        str(text or ""), source=f"secret {secret_arn}", permissions=permissions
    )


def github_auth_from_value(
    text: str,
    *,
    source: str = "the GitHub secret",
    permissions: dict[str, str] | None = None,
) -> Auth.Auth:
    """Parse a secret string: JSON with a token or a GitHub App installation, or a bare
    token. Raises ConfigError naming ``source`` for anything else.

    ``permissions`` narrows a GitHub App's installation tokens (``{"contents": "read"}``);
    a personal token cannot be narrowed and is returned as it is."""
    text = text.strip()
    if not text:
        raise ConfigError(f"{source} is empty: {_SHAPES}")
    if not text.startswith(("{", "[")):
        if not _BARE_TOKEN.match(text):
            raise ConfigError(f"{source} is not a token nor JSON: {_SHAPES}")
        return Auth.Token(text)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{source} looks like JSON but does not parse ({exc.msg})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{source} is not a JSON object: {_SHAPES}")
    return _auth_from_fields(data, source, permissions)


def installation_token(auth: Auth.Auth, api_url: str) -> str:
    """The token itself: for a GitHub App, a fresh installation token (an hour long, with
    the permissions ``auth`` asks for); a personal token as it is."""
    if isinstance(auth, Auth.Token):
        return auth.token
    if not isinstance(auth, Auth.AppInstallationAuth):
        raise ConfigError(f"cannot make a token from {type(auth).__name__} credentials")
    Github(auth=auth, base_url=api_url)  # gives the auth its requester
    try:
        return auth.token
    except GithubException as exc:
        if exc.status in (401, 403, 404):
            raise ConfigError(f"GitHub refused an installation token: {exc}") from exc
        raise TransientError(f"GitHub could not issue an installation token: {exc}") from exc


def github_auth_from_env(environ: Mapping[str, str] | None = None) -> Auth.Auth:
    """A token from ``GITHUB_TOKEN`` (the CLI's way). Raises ConfigError when it is unset."""
    token = (os.environ if environ is None else environ).get("GITHUB_TOKEN", "").strip()
    if not token:
        raise ConfigError(
            "delivering to GitHub needs credentials: set GITHUB_TOKEN to a token with contents "
            "and pull requests write access (or configure FIXLOOP_GITHUB_SECRET_ARN)"
        )
    return Auth.Token(token)


def _auth_from_fields(
    data: dict[str, Any], source: str, permissions: dict[str, str] | None
) -> Auth.Auth:
    app_fields = {"app_id", "private_key", "installation_id"} & data.keys()
    if app_fields:
        missing = sorted({"app_id", "private_key", "installation_id"} - data.keys())
        if missing:
            raise ConfigError(f"{source} describes a GitHub App but lacks {', '.join(missing)}")
        app_id = _identifier(data["app_id"], "app_id", source, allow_text=True)
        installation_id = _identifier(data["installation_id"], "installation_id", source)
        key = data["private_key"]
        if not isinstance(key, str) or "-----BEGIN" not in key:
            raise ConfigError(f"{source}: private_key is not a PEM private key (-----BEGIN ...)")
        if "\\n" in key and "\n" not in key.strip():
            key = key.replace("\\n", "\n")  # a PEM pasted with its newlines escaped
        return Auth.AppAuth(app_id, key).get_installation_auth(
            int(installation_id), token_permissions=permissions
        )
    token = data.get("token")
    if isinstance(token, str) and token.strip():
        return Auth.Token(token.strip())
    keys = ", ".join(sorted(str(k) for k in data)) or "none"
    raise ConfigError(f"{source} has neither a token nor a GitHub App (keys: {keys}): {_SHAPES}")


def _identifier(value: Any, name: str, source: str, *, allow_text: bool = False) -> int | str:
    """A numeric id given as a number or a string of digits (an app id may also be the
    app's client id, which is text)."""
    if isinstance(value, bool):
        raise ConfigError(f"{source}: {name} must be a number")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if allow_text and isinstance(value, str) and value.strip():
        return value.strip()
    raise ConfigError(f"{source}: {name} must be a number, not {value!r}")
