"""Who may use fixloop's interactive endpoints: a Cognito user pool and its app client.

The web live view, the WebSocket API and the MCP server authenticate people with this pool:
an administrator creates the users (no self sign-up), each signs in with SRP and a TOTP
second factor, and the view sends the ID or access token. Endpoints attach to it with
:meth:`Auth.rest_authorizer` (REST API methods) or, where API Gateway has no Cognito
authorizer (WebSocket ``$connect``, the MCP server's bearer tokens), verify the JWT in the
function against :meth:`Auth.verification_environment` (issuer, audience, JWKS URL).
Machine callers do not use the pool: ``POST /signals`` is IAM-authorized (webhooks.py).
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from constructs import Construct

from stacks.nag import acknowledge

__all__ = ["ACCESS_TOKEN_VALIDITY", "REFRESH_TOKEN_VALIDITY", "Auth"]

ACCESS_TOKEN_VALIDITY = cdk.Duration.hours(1)
REFRESH_TOKEN_VALIDITY = cdk.Duration.days(30)


class Auth(Construct):
    """The user pool ``fixloop-users`` and the public app client ``fixloop-web``."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.user_pool = cognito.UserPool(
            self,
            "UserPool",
            user_pool_name="fixloop-users",
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(email=True, username=False),
            sign_in_case_sensitive=False,
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            mfa=cognito.Mfa.REQUIRED,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=cdk.Duration.days(3),
            ),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            feature_plan=cognito.FeaturePlan.ESSENTIALS,
            deletion_protection=True,
            # People's accounts outlive a redeployment of the stack.
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.client = self.user_pool.add_client(
            "WebClient",
            user_pool_client_name="fixloop-web",
            # A browser application cannot keep a secret.
            generate_secret=False,
            auth_flows=cognito.AuthFlow(user_srp=True),
            prevent_user_existence_errors=True,
            access_token_validity=ACCESS_TOKEN_VALIDITY,
            id_token_validity=ACCESS_TOKEN_VALIDITY,
            refresh_token_validity=REFRESH_TOKEN_VALIDITY,
            enable_token_revocation=True,
        )
        stack = cdk.Stack.of(self)
        self.issuer_url = (
            f"https://cognito-idp.{stack.region}.{stack.url_suffix}/{self.user_pool.user_pool_id}"
        )
        """The ``iss`` claim of the pool's tokens (keys at ``<issuer>/.well-known/jwks.json``)."""
        acknowledge(
            self.user_pool,
            "AwsSolutions-COG3",
            "Threat protection (advanced security, ENFORCED) needs the Cognito Plus feature "
            "plan, billed per monthly active user; the pool has no self sign-up, requires a "
            "TOTP second factor and 12-character passwords, and users are created by an "
            "administrator. Operators who want it switch feature_plan to PLUS.",
        )
        acknowledge(
            self.user_pool,
            "AwsSolutions-COG8",
            "The Essentials plan covers what the live view, WebSocket and MCP need (SRP sign-in, "
            "TOTP MFA, token revocation); Plus only adds threat protection (see COG3), billed "
            "per monthly active user.",
        )

    def verification_environment(self) -> dict[str, str]:
        """What a function verifying this pool's JWTs needs (e.g. with PyJWT's JWKS client)."""
        return {
            "FIXLOOP_COGNITO_USER_POOL_ID": self.user_pool.user_pool_id,
            "FIXLOOP_COGNITO_CLIENT_ID": self.client.user_pool_client_id,
            "FIXLOOP_COGNITO_ISSUER": self.issuer_url,
        }

    def rest_authorizer(self, scope: Construct, construct_id: str) -> apigw.IAuthorizer:
        """A Cognito authorizer for REST API methods (``authorization_type=COGNITO``)."""
        return apigw.CognitoUserPoolsAuthorizer(
            scope, construct_id, cognito_user_pools=[self.user_pool]
        )
