"""Who may follow and steer investigations: the token check of ``$connect`` and MCP.

A caller presents a token (the WebSocket's ``token`` query parameter, MCP's bearer token);
a :class:`TokenVerifier` turns it into a principal or refuses it. In AWS it is a Cognito
JWT (``FIXLOOP_LIVE_AUTH=cognito`` with the user pool and app client ids; the user pool
construct comes with the auth stack); on the embedded runtime it is one random token the
local server prints (``FIXLOOP_LIVE_AUTH=token``).
"""

from __future__ import annotations

import hmac
from functools import cache
from typing import Any, Protocol

import boto3
import jwt

from fixloop.config import get_settings
from fixloop.errors import ConfigError

__all__ = [
    "CognitoVerifier",
    "StaticTokenVerifier",
    "TokenVerifier",
    "Unauthorized",
    "authorizer_response",
    "verifier",
]


class Unauthorized(Exception):
    """The token is missing, malformed, expired or not ours."""


class TokenVerifier(Protocol):
    def verify(self, token: str) -> str:
        """The principal the token stands for; :class:`Unauthorized` if it is not valid."""
        ...


class StaticTokenVerifier:
    """One shared secret (local use): constant-time comparison."""

    def __init__(self, token: str) -> None:
        if len(token) < 16:
            raise ConfigError("FIXLOOP_LIVE_TOKEN must be at least 16 characters")
        self._token = token

    def verify(self, token: str) -> str:
        if not token or not hmac.compare_digest(token.encode(), self._token.encode()):
            raise Unauthorized("invalid token")
        return "local"


class CognitoVerifier:
    """A Cognito user pool's ID or access token, checked against the pool's JWKS."""

    def __init__(
        self, region: str, user_pool_id: str, client_id: str, *, jwks_url: str | None = None
    ) -> None:
        if not user_pool_id or not client_id:
            raise ConfigError(
                "FIXLOOP_LIVE_AUTH=cognito needs FIXLOOP_COGNITO_USER_POOL_ID and "
                "FIXLOOP_COGNITO_CLIENT_ID"
            )
        self.issuer = f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"
        self._client_id = client_id
        self._jwks = jwt.PyJWKClient(
            jwks_url or f"{self.issuer}/.well-known/jwks.json", cache_keys=True, timeout=5
        )

    def verify(self, token: str) -> str:
        try:
            key = self._jwks.get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                issuer=self.issuer,
                options={"verify_aud": False, "require": ["exp", "iss", "token_use"]},
            )
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"invalid token: {exc}") from exc
        use = claims.get("token_use")
        audience = claims.get("aud") if use == "id" else claims.get("client_id")
        if use not in ("id", "access") or audience != self._client_id:
            raise Unauthorized("token not issued to this app client")
        return str(claims.get("email") or claims.get("username") or claims["sub"])


@cache
def verifier() -> TokenVerifier:
    settings = get_settings()
    if settings.live_auth == "cognito":
        region = boto3.session.Session().region_name or ""
        return CognitoVerifier(region, settings.cognito_user_pool_id, settings.cognito_client_id)
    return StaticTokenVerifier(settings.live_token)


def authorizer_response(event: dict[str, Any]) -> dict[str, Any]:
    """The answer of a REQUEST authorizer on ``$connect``: allow with the principal in the
    context (the route handlers read it), or deny."""
    token = (event.get("queryStringParameters") or {}).get("token", "")
    try:
        principal = verifier().verify(token)
        effect = "Allow"
    except Unauthorized:
        principal, effect = "anonymous", "Deny"
    return {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": effect, "Resource": event["methodArn"]}
            ],
        },
        "context": {"principal": principal},
    }
