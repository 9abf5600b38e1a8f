"""The Cognito user pool of the interactive endpoints (stacks/constructs/auth.py)."""

from __future__ import annotations

import json
from typing import Any

from stacks import FixloopStack
from tests.infra.support import only


def test_user_pool_for_the_interactive_endpoints(template_json: dict[str, Any]) -> None:
    # Given the Cognito user pool and its client
    pool_id, pool = only(template_json, "AWS::Cognito::UserPool")
    _, client = only(template_json, "AWS::Cognito::UserPoolClient")
    props = pool["Properties"]

    # When / Then only administrators create users, who sign in with a TOTP second factor
    assert props["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert props["MfaConfiguration"] == "ON"
    assert props["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]
    assert props["Policies"]["PasswordPolicy"]["MinimumLength"] >= 12
    assert pool["DeletionPolicy"] == "Retain"
    # And the web client is public (no secret), SRP only, hides whether a user exists
    c = client["Properties"]
    assert c["UserPoolId"] == {"Ref": pool_id}
    assert c.get("GenerateSecret", False) is False
    assert set(c["ExplicitAuthFlows"]) == {"ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"}
    assert c["PreventUserExistenceErrors"] == "ENABLED"
    # And the stack exposes it for the endpoints that attach to it
    assert template_json["Outputs"]["UserPoolId"]["Value"] == {"Ref": pool_id}


def test_auth_construct_gives_endpoints_an_authorizer_and_jwt_settings(
    stack: FixloopStack,
) -> None:
    # Given the stack's auth construct
    auth = stack.auth

    # When an endpoint asks for what it needs to verify tokens
    env = auth.verification_environment()

    # Then it gets the pool, the client and the issuer
    assert set(env) == {
        "FIXLOOP_COGNITO_USER_POOL_ID",
        "FIXLOOP_COGNITO_CLIENT_ID",
        "FIXLOOP_COGNITO_ISSUER",
    }
    issuer = json.dumps(stack.resolve(env["FIXLOOP_COGNITO_ISSUER"]))
    assert "https://cognito-idp." in issuer and "AuthUserPool" in issuer
