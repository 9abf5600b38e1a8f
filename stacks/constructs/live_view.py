"""The live view in AWS: web/ in a private bucket behind CloudFront, sign-in on the hosted UI.

- ``Site`` bucket: private (every public access blocked, no website hosting, ACLs off),
  encrypted (SSE-S3: the files are the same public page for everyone, no data), TLS-only,
  not versioned (the content is web/ of the deployed commit: an earlier one is redeployed,
  not restored), retained when the stack is deleted.
- ``Distribution``: the bucket as its only origin through origin access control (SigV4,
  the bucket policy admits ``cloudfront.amazonaws.com`` for this distribution's ARN only,
  ``s3:GetObject``), HTTP redirected to HTTPS (then HSTS keeps browsers there),
  ``index.html`` at ``/``, and a response headers policy:
  HSTS (two years), the page's Content-Security-Policy (fixloop/live/page.py: its own
  scripts, and connections to the WebSocket, REST and MCP APIs and the sign-in domain),
  ``nosniff``, ``frame-ancestors 'none'`` and ``X-Frame-Options: DENY``, no referrer.
- ``Deployment``: CDK's BucketDeployment (a Lambda function with the AWS CLI layer, both
  prebuilt zips of aws-cdk-lib: no Docker at synth) copies web/ as it is at synth, except
  its ``config.js``, and writes ``config.js`` from :class:`PageConfig` with the deployed
  URLs and ids (resolved by the function at deployment); it removes what web/ no longer
  has, marks every file ``no-cache`` (browsers revalidate, so a deployment's files arrive
  together) and invalidates the distribution. Its role has exactly what that takes
  (:func:`deployment_statements`), not CDK's broader grants.
- The web client of the user pool signs in on the hosted UI and returns to the
  distribution's URL (:meth:`Auth.sign_in_at`).
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

from fixloop.live.page import PageConfig, content_security_policy
from layers.bundler import PROJECT_ROOT
from stacks.constructs.auth import OAUTH_SCOPES, Auth
from stacks.constructs.live import LiveApi
from stacks.nag import acknowledge, flatten, iam5_resource

__all__ = ["CONFIG_FILE", "INDEX_FILE", "WEB_DIR", "LiveView", "deployment_statements"]

WEB_DIR = PROJECT_ROOT / "web"
CONFIG_FILE = "config.js"
INDEX_FILE = "index.html"
HSTS_MAX_AGE = cdk.Duration.days(730)


class LiveView(Construct):
    """web/ served by CloudFront at :attr:`url`, configured for this stack's APIs and pool."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        auth: Auth,
        live: LiveApi,
        rest_api: apigw.RestApi,
        web_dir: Path = WEB_DIR,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        if not (web_dir / INDEX_FILE).is_file():
            raise FileNotFoundError(f"{web_dir / INDEX_FILE} is missing: no live view to deploy")

        self.bucket = s3.Bucket(
            self,
            "Site",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=False,
            # Kept when the stack is deleted: the deployment marks the bucket as its own and
            # then leaves its files in place, and CloudFormation deletes no bucket with
            # files in it (emptying it would take another custom resource).
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        acknowledge(
            self.bucket,
            "AwsSolutions-S1",
            "The bucket holds the live view's static files, read only by the distribution "
            "(origin access control) and written only by the deployment; server access logs "
            "would need a second bucket and record nothing but CloudFront's fetches.",
        )

        rest_origin = (
            f"https://{rest_api.rest_api_id}.execute-api.{stack.region}.{stack.url_suffix}"
        )
        self.content_security_policy = content_security_policy(
            [live.api.api_endpoint, rest_origin, live.mcp_api.api_endpoint, auth.domain_url]
        )
        self.headers = cloudfront.ResponseHeadersPolicy(
            self,
            "Headers",
            comment="fixloop live view: HSTS, CSP, nosniff, no framing, no referrer",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=HSTS_MAX_AGE, include_subdomains=True, override=True
                ),
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy=self.content_security_policy, override=True
                ),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True
                ),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.NO_REFERRER, override=True
                ),
            ),
        )
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment="fixloop live view",
            default_root_object=INDEX_FILE,
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(self.bucket),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                response_headers_policy=self.headers,
                compress=True,
            ),
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
        )
        self._acknowledge_distribution()
        self.url = f"https://{self.distribution.distribution_domain_name}/"
        """The page (and the hosted UI's callback and sign-out URL)."""
        auth.sign_in_at(self.url)

        self.page = PageConfig(
            websocket_url=live.websocket_url,
            rest_url=rest_api.url,
            mcp_url=live.mcp_url,
            region=stack.region,
            user_pool_id=auth.user_pool.user_pool_id,
            user_pool_client_id=auth.client.user_pool_client_id,
            user_pool_domain=auth.domain_url,
            oauth_scopes=OAUTH_SCOPES,
            redirect_uri=self.url,
        )
        """What ``config.js`` holds (tokens, resolved at deployment)."""
        self.deployment = self._deployment(web_dir)

    def _deployment(self, web_dir: Path) -> s3deploy.BucketDeployment:
        stack = cdk.Stack.of(self)
        self.web = s3_assets.Asset(
            self,
            "Web",
            path=str(web_dir),
            # the top folder's config.js only (the local one), as .gitignore would read it
            exclude=[f"/{CONFIG_FILE}"],
            ignore_mode=cdk.IgnoreMode.GIT,
        )
        """web/ as it is at synth, but its config.js (written below)."""
        log_group = logs.LogGroup(self, "DeploymentLogs", retention=logs.RetentionDays.ONE_MONTH)
        role = iam.Role(
            self,
            "DeploymentRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="fixloop live view deployment (copies web/ into the site bucket)",
        )
        self.deployment_policy = iam.Policy(
            self,
            "DeploymentPolicy",
            roles=[role],
            statements=deployment_statements(
                site=self.bucket,
                assets=self.web.bucket,
                distribution=self.distribution,
                log_group=log_group,
            ),
        )
        deployment = s3deploy.BucketDeployment(
            self,
            "Deployment",
            destination_bucket=self.bucket,
            sources=[
                s3deploy.Source.bucket(self.web.bucket, self.web.s3_object_key),
                s3deploy.Source.data(CONFIG_FILE, self.page.script()),
            ],
            prune=True,
            cache_control=[s3deploy.CacheControl.no_cache()],
            distribution=self.distribution,
            distribution_paths=["/*"],
            # CDK's grants to the handler (GetObject*, List*, DeleteObject*... on both
            # buckets, invalidations of every distribution) are not applied to an immutable
            # role: it has this construct's statements only, attached before it runs.
            role=role.without_policy_updates(),
            log_group=log_group,
        )
        deployment.node.add_dependency(self.deployment_policy)
        for bucket, reason in (
            (self.bucket, "writes and deletes the files of the site bucket: it mirrors web/"),
            (self.web.bucket, "reads the zips of web/ and config.js from the asset bucket"),
        ):
            acknowledge(
                self.deployment_policy,
                iam5_resource(flatten(f"{bucket.bucket_arn}/*", stack)),
                f"The deployment {reason}; their keys are known only at deployment.",
            )
        # The function is a singleton of the stack (CDK's provider of the custom resource).
        for handler in stack.node.children:
            if handler.node.id.startswith("Custom::CDKBucketDeployment"):
                acknowledge(
                    handler,
                    "AwsSolutions-L1",
                    "CDK's BucketDeployment handler: aws-cdk-lib picks its runtime, which moves "
                    "with aws-cdk-lib; it runs only while CloudFormation deploys.",
                )
        return deployment

    def _acknowledge_distribution(self) -> None:
        reasons = {
            "AwsSolutions-CFR1": (
                "People follow investigations from anywhere; the page is static and public, "
                "and everything it shows needs a Cognito sign-in to the APIs."
            ),
            "AwsSolutions-CFR2": (
                "The distribution serves the same static files to everyone and forwards "
                "nothing to compute: no origin logic to protect. The APIs the page talks to "
                "are separate and authenticate every connection; a web ACL (billed per ACL "
                "and rule) can be attached by the operator (docs/deploying.md)."
            ),
            "AwsSolutions-CFR3": (
                "Standard logging needs an S3 bucket with ACLs enabled; requests for the "
                "static files say nothing about who did what. Sign-ins are Cognito's, and "
                "every WebSocket and MCP request is logged by its function."
            ),
            "AwsSolutions-CFR4": (
                "The default *.cloudfront.net certificate, with which CloudFront fixes the "
                "security policy to TLSv1; browsers negotiate TLS 1.2 or 1.3 and HSTS keeps "
                "them on HTTPS. A custom domain with an ACM certificate sets TLSv1.2_2021 "
                "(docs/deploying.md)."
            ),
        }
        for rule, reason in reasons.items():
            acknowledge(self.distribution, rule, reason)


def deployment_statements(
    *,
    site: s3.IBucket,
    assets: s3.IBucket,
    distribution: cloudfront.IDistribution,
    log_group: logs.ILogGroup,
) -> list[iam.PolicyStatement]:
    """What the deployment's handler does: ``aws s3 cp`` of its source zips, ``aws s3 sync
    --delete`` into the site bucket (list, put, delete; multipart uploads of large files), an
    invalidation of the distribution and waiting for it, and its own log lines."""
    return [
        iam.PolicyStatement(actions=["s3:GetObject"], resources=[assets.arn_for_objects("*")]),
        iam.PolicyStatement(actions=["s3:ListBucket"], resources=[site.bucket_arn]),
        iam.PolicyStatement(
            actions=["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
            resources=[site.arn_for_objects("*")],
        ),
        iam.PolicyStatement(
            actions=["cloudfront:CreateInvalidation", "cloudfront:GetInvalidation"],
            resources=[distribution.distribution_arn],
        ),
        iam.PolicyStatement(
            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[log_group.log_group_arn],
        ),
    ]
