"""Authentication by the local GitHub API: tokens on every request, and installation tokens
issued to a GitHub App's JWT."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from tests.fakes.github.protocol import RecordedRequest, error, iso

__all__ = ["authenticate", "issue_installation_token"]


def authenticate(request: RecordedRequest, tokens: Collection[str]) -> None:
    """401 "Bad credentials" unless the request carries ``token X`` or ``Bearer X`` with X
    in ``tokens``."""
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() not in ("token", "bearer") or credential.strip() not in tokens:
        raise error(401, "Bad credentials")


def issue_installation_token(
    request: RecordedRequest,
    installation: int,
    *,
    app_id: int | None,
    app_public_key: str | None,
    installation_id: int | None,
    token: str,
    permissions: dict[str, str],
    narrowed_tokens: dict[str, dict[str, str]],
) -> tuple[int, Any]:
    """``POST /app/installations/{installation}/access_tokens``: ``token`` with
    ``permissions``, or, when the body asks for narrower ``permissions``, a new token holding
    only those (recorded in ``narrowed_tokens``). The request must carry a RS256 JWT issued
    by ``app_id`` that ``app_public_key`` verifies."""
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    if app_public_key is None or scheme.lower() != "bearer":
        raise error(401, "A JSON web token could not be decoded")
    try:
        claims = jwt.decode(
            credential.strip(),
            app_public_key,
            algorithms=["RS256"],
            options={"require": ["iat", "exp", "iss"]},
        )
    except jwt.PyJWTError as exc:
        raise error(401, f"A JSON web token could not be decoded ({exc})") from exc
    if str(claims.get("iss")) != str(app_id):
        raise error(401, "'Issuer' claim ('iss') must be an Integer")
    if installation != installation_id:
        raise error(404, "Not Found")
    expires = datetime.now(UTC) + timedelta(hours=1)
    asked = (request.body or {}).get("permissions") if isinstance(request.body, dict) else None
    granted = permissions
    if asked:
        # A narrowed token is a new token, holding only what was asked (as on GitHub).
        granted = dict(asked)
        token = f"ghs_narrowed_{len(narrowed_tokens) + 1:04d}"
        narrowed_tokens[token] = granted
    return 201, {
        "token": token,
        "expires_at": iso(expires),
        "permissions": granted,
        "repository_selection": "selected",
    }
