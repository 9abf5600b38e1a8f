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

from fixloop import aws
from fixloop.config import get_settings
from fixloop.credentials.repo_token import RepoTokenRequest
from fixloop.domain import Investigation
from fixloop.errors import TransientError


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
