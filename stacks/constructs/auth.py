"""Who may use fixloop's interactive endpoints: a Cognito user pool and its app client.

The web live view, the WebSocket API and the MCP server authenticate people with this pool:
an administrator creates the users (no self sign-up), each signs in with a TOTP second
factor, on the pool's hosted UI (the live view: authorization code grant with PKCE, see
:meth:`Auth.sign_in_at`) or with SRP, and the view sends the ID or access token of the one
app client ``fixloop-web``. Endpoints attach to it with
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

__all__ = [
    "ACCESS_TOKEN_VALIDITY",
    "OAUTH_SCOPES",
    "REFRESH_TOKEN_VALIDITY",
    "Auth",
]

ACCESS_TOKEN_VALIDITY = cdk.Duration.hours(1)
REFRESH_TOKEN_VALIDITY = cdk.Duration.days(30)
OAUTH_SCOPES = ("openid", "email", "profile")
"""What the web client may ask the hosted UI for: an ID token naming the person."""


class Auth(Construct):
    """The user pool ``fixloop-users``, its hosted UI's domain and the public app client
    ``fixloop-web``.

    ``domain_prefix``: the hosted UI's ``https://{prefix}.auth.{region}.amazoncognito.com``
    (unique among all accounts in a region; stacks/config.py checks its form); empty:
    ``fixloop-`` and the last twelve hex digits of the stack's id, unique per stack and
    stable for its lifetime.
    """

    def __init__(self, scope: Construct, construct_id: str, *, domain_prefix: str = "") -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
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
            # OAuth (the hosted UI) is turned on by sign_in_at, with the URL it returns to;
            # until then the client has no OAuth flow (CDK's default would allow the
            # implicit grant with a placeholder callback URL).
            disable_o_auth=True,
            supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO],
            prevent_user_existence_errors=True,
            access_token_validity=ACCESS_TOKEN_VALIDITY,
            id_token_validity=ACCESS_TOKEN_VALIDITY,
            refresh_token_validity=REFRESH_TOKEN_VALIDITY,
            enable_token_revocation=True,
        )
        self.domain = self.user_pool.add_domain(
            "Domain",
            cognito_domain=cognito.CognitoDomainOptions(
                domain_prefix=domain_prefix or _stack_prefix(stack)
            ),
        )
        """The hosted UI (classic: it needs no branding resource, and sets up TOTP itself)."""
        self.domain_url = self.domain.base_url()
        """``https://{prefix}.auth.{region}.amazoncognito.com``."""
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

    def sign_in_at(self, url: str) -> None:
        """Let the web client sign in on the hosted UI with the authorization code grant and
        come back to ``url``, and sign out back to it.

        Set on the CloudFormation resource: CDK's client takes its URLs when it is made, and
        the live view's URL (its distribution) is made after the WebSocket API, which needs
        this client's id. PKCE is the page's part (it must send an S256 challenge): Cognito
        has no client setting that refuses a code request without one."""
        client = self.client.node.default_child
        if not isinstance(client, cognito.CfnUserPoolClient):
            raise TypeError(f"the web client's resource is a {type(client).__name__}")
        client.allowed_o_auth_flows_user_pool_client = True
        client.allowed_o_auth_flows = ["code"]
        client.allowed_o_auth_scopes = list(OAUTH_SCOPES)
        client.callback_ur_ls = [url]
        client.logout_ur_ls = [url]

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


def _stack_prefix(stack: cdk.Stack) -> str:
    """``fixloop-`` and the last group of the stack id's UUID (12 hex digits)."""
    uuid = cdk.Fn.select(2, cdk.Fn.split("/", stack.stack_id))
    return cdk.Fn.join("-", ["fixloop", cdk.Fn.select(4, cdk.Fn.split("-", uuid))])
