"""Read access to a private repository for the sandbox, without the GitHub credentials.

The sandbox runs the repository's own code (its tests), so it must not hold the GitHub App's
private key. Instead it invokes the Repo Token function (``FIXLOOP_REPO_TOKEN_FUNCTION``),
which reads the credentials secret and returns an installation token that can only read
contents and expires within the hour (a personal token is returned as it is: it cannot be
narrowed). The sandbox passes the token to the clone command alone, as an
``http.extraHeader`` of that one git invocation: it is not written to the clone's
``.git/config``, the environment of the commands it runs, or the snapshot.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import urlsplit

from pydantic import BaseModel

from fixloop import aws
from fixloop.config import get_settings
from fixloop.domain import Investigation
from fixloop.errors import TransientError

READ_CONTENTS = {"contents": "read"}


class RepoTokenRequest(BaseModel):
    investigation_id: str


def clone_token(investigation_id: str) -> str | None:
    """(Repo Token function) A token that can read the investigation's GitHub repository;
    None when it has none or fixloop has no GitHub credentials (a public repository)."""
    from fixloop.delivery.credentials import github_auth_from_secret, installation_token
    from fixloop.store import stores

    settings = get_settings()
    investigation = stores().investigations.get(investigation_id)
    if not (investigation.github_repo and settings.github_secret_arn):
        return None
    auth = github_auth_from_secret(settings.github_secret_arn, permissions=READ_CONTENTS)
    return installation_token(auth, settings.github_api_url)


def clone_header(investigation: Investigation) -> str | None:
    """(Sandbox) The HTTP header git clones the investigation's repository with, if any."""
    function = get_settings().repo_token_function
    if not (function and investigation.github_repo and _is_http_url(investigation.repo)):
        return None
    resp = aws.client("lambda").invoke(
        FunctionName=function,
        Payload=RepoTokenRequest(investigation_id=investigation.investigation_id)
        .model_dump_json()
        .encode(),
    )
    answer = json.loads(resp["Payload"].read() or b"{}")
    if resp.get("FunctionError"):
        raise TransientError(
            f"the repository token function failed: {answer.get('errorType', 'error')}: "
            f"{answer.get('errorMessage', '')}"
        )
    token = answer.get("token")
    if not token:
        return None
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return f"Authorization: Basic {basic}"


def _is_http_url(source: str) -> bool:
    return urlsplit(source).scheme in ("https", "http")
