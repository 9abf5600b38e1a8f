"""Token checks of $connect and MCP: Cognito JWTs against a JWKS, and the local token."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from fixloop.errors import ConfigError
from fixloop.httpserver import BackgroundServer
from fixloop.live.auth import CognitoVerifier, StaticTokenVerifier, Unauthorized

POOL, CLIENT, REGION = "us-east-1_TestPool", "client-123", "us-east-1"
ISSUER = f"https://cognito-idp.{REGION}.amazonaws.com/{POOL}"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


class _Jwks(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key()))
        body = json.dumps({"keys": [{**jwk, "kid": "k1", "alg": "RS256", "use": "sig"}]})
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def verifier() -> Iterator[CognitoVerifier]:
    with BackgroundServer("127.0.0.1", 0, _Jwks, "jwks") as server:
        yield CognitoVerifier(REGION, POOL, CLIENT, jwks_url=f"{server.base_url}/jwks.json")


def _token(key: Any = KEY, **claims: Any) -> str:
    base = {
        "iss": ISSUER,
        "sub": "u-1",
        "token_use": "id",
        "aud": CLIENT,
        "email": "dev@example.com",
        "exp": int(time.time()) + 600,
    }
    return jwt.encode({**base, **claims}, key, algorithm="RS256", headers={"kid": "k1"})


def test_a_pool_token_for_our_client_is_accepted(verifier: CognitoVerifier) -> None:
    assert verifier.verify(_token()) == "dev@example.com"
    access = _token(token_use="access", aud=None, email=None, client_id=CLIENT, username="dev")
    assert verifier.verify(access) == "dev"


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda: _token(aud="another-client"), id="other client"),
        pytest.param(lambda: _token(iss="https://evil.example.com/pool"), id="other issuer"),
        pytest.param(lambda: _token(exp=int(time.time()) - 5), id="expired"),
        pytest.param(lambda: _token(OTHER_KEY), id="forged signature"),
        pytest.param(lambda: _token(token_use="refresh"), id="not an id or access token"),
        pytest.param(lambda: "not-a-jwt", id="garbage"),
        pytest.param(lambda: "", id="empty"),
    ],
)
def test_anything_else_is_refused(verifier: CognitoVerifier, token: Any) -> None:
    with pytest.raises(Unauthorized):
        verifier.verify(token())


def test_cognito_needs_its_pool_and_client() -> None:
    with pytest.raises(ConfigError):
        CognitoVerifier(REGION, "", CLIENT)


def test_the_local_token() -> None:
    v = StaticTokenVerifier("s3cret-token-of-enough-length")
    assert v.verify("s3cret-token-of-enough-length") == "local"
    for wrong in ("", "s3cret", "s3cret-token-of-enough-lengtH"):
        with pytest.raises(Unauthorized):
            v.verify(wrong)
    with pytest.raises(ConfigError):
        StaticTokenVerifier("short")
