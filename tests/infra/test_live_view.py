"""The live view hosted by the stack (stacks/constructs/live_view.py): web/ in a private
bucket behind CloudFront, its config.js written at deployment, sign-in on the hosted UI."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from cdk_nag import AwsSolutionsChecks

from fixloop.live.page import CONFIG_KEYS, CONFIG_VARIABLE
from stacks import FixloopStack
from stacks.config import CONTEXT_COGNITO_DOMAIN_PREFIX, FixloopConfig
from stacks.constructs.live_view import WEB_DIR
from tests.infra.support import (
    acknowledgments,
    actions,
    only,
    policy_of_role,
    resources,
    statement_resources,
    synth_template,
)

MARKER = re.compile(r"<<marker:0xbaba:\d+>>")


def _distribution(template_json: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    distribution_id, distribution = only(template_json, "AWS::CloudFront::Distribution")
    return distribution_id, distribution["Properties"]["DistributionConfig"]


def _site_bucket_id(template_json: dict[str, Any]) -> str:
    """The bucket the distribution's only origin reads."""
    _, config = _distribution(template_json)
    (origin,) = config["Origins"]
    bucket_id, attribute = origin["DomainName"]["Fn::GetAtt"]
    assert attribute == "RegionalDomainName"  # the REST endpoint, not a website endpoint
    return str(bucket_id)


def _distribution_url(distribution_id: str) -> dict[str, Any]:
    return {"Fn::Join": ["", ["https://", {"Fn::GetAtt": [distribution_id, "DomainName"]}, "/"]]}


def _deployment(template_json: dict[str, Any]) -> dict[str, Any]:
    _, deployment = only(template_json, "Custom::CDKBucketDeployment")
    props: dict[str, Any] = deployment["Properties"]
    return props


def _staged(app: cdk.App, object_key: str) -> Path:
    """The folder CDK staged for the asset uploaded as ``object_key`` (``<hash>.zip``)."""
    return Path(app.outdir) / f"asset.{object_key.removesuffix('.zip')}"


def _config_js(app: cdk.App, template_json: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """config.js as the deployment writes it: the settings (markers in place of deploy-time
    values) and the text."""
    props = _deployment(template_json)
    folders = [_staged(app, key) for key in props["SourceObjectKeys"]]
    (folder,) = [f for f in folders if (f / "config.js").is_file()]
    text = (folder / "config.js").read_text()
    body = text.split(f"{CONFIG_VARIABLE} = ", 1)[1].rstrip().removesuffix(";")
    settings: dict[str, Any] = json.loads(body)
    return settings, text


def _markers(template_json: dict[str, Any], value: str) -> list[Any]:
    """What each deploy-time marker in ``value`` stands for (CloudFormation references)."""
    markers: dict[str, Any] = {}
    for source in _deployment(template_json)["SourceMarkers"]:
        markers |= source
    return [markers[m] for m in MARKER.findall(value)]


def test_site_bucket_is_private_encrypted_tls_only_and_read_by_the_distribution_only(
    template_json: dict[str, Any],
) -> None:
    # Given the bucket behind the distribution and its policy
    bucket_id = _site_bucket_id(template_json)
    bucket = template_json["Resources"][bucket_id]
    props = bucket["Properties"]
    distribution_id, _ = _distribution(template_json)
    ((_, policy),) = [
        (k, p)
        for k, p in resources(template_json, "AWS::S3::BucketPolicy").items()
        if p["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]

    # When / Then every public access is blocked, it is no website, ACLs are off, objects
    # are encrypted (SSE-S3) and not versioned, and the bucket outlives the stack
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert "WebsiteConfiguration" not in props
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    (encryption,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert "VersioningConfiguration" not in props
    assert bucket["DeletionPolicy"] == "Retain"
    # And its policy refuses anything but TLS (1.2 or later) to everyone
    denies = [s for s in statements if s["Effect"] == "Deny"]
    assert {json.dumps(s["Condition"], sort_keys=True) for s in denies} == {
        json.dumps({"Bool": {"aws:SecureTransport": "false"}}),
        json.dumps({"NumericLessThan": {"s3:TlsVersion": 1.2}}),
    }
    assert all(s["Principal"] == {"AWS": "*"} and s["Action"] == "s3:*" for s in denies)
    # And allows one thing: CloudFront reading objects for this distribution (OAC)
    (allow,) = [s for s in statements if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert allow["Action"] == "s3:GetObject"
    assert allow["Resource"] == {"Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, "/*"]]}
    source_arn = allow["Condition"]["StringEquals"]["AWS:SourceArn"]
    assert source_arn["Fn::Join"][1][-2:] == [":distribution/", {"Ref": distribution_id}]


def test_distribution_uses_origin_access_control_redirects_to_https_and_serves_index_html(
    template_json: dict[str, Any],
) -> None:
    # Given the distribution, its origin and the origin access control
    _, config = _distribution(template_json)
    (origin,) = config["Origins"]
    oac_id, oac = only(template_json, "AWS::CloudFront::OriginAccessControl")
    behavior = config["DefaultCacheBehavior"]

    # When / Then the origin is signed with SigV4 by OAC, never the legacy OAI
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": [oac_id, "Id"]}
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}
    assert oac["Properties"]["OriginAccessControlConfig"] | {"Name": None} == {
        "Name": None,
        "OriginAccessControlOriginType": "s3",
        "SigningBehavior": "always",
        "SigningProtocol": "sigv4",
    }
    assert not resources(template_json, "AWS::CloudFront::CloudFrontOriginAccessIdentity")
    # And viewers asking over HTTP are redirected to HTTPS, may GET and HEAD, get the
    # headers policy, and index.html at /
    assert behavior["ViewerProtocolPolicy"] == "redirect-to-https"
    assert behavior["AllowedMethods"] == ["GET", "HEAD"]
    headers_id, _ = only(template_json, "AWS::CloudFront::ResponseHeadersPolicy")
    assert behavior["ResponseHeadersPolicyId"] == {"Ref": headers_id}
    assert config["DefaultRootObject"] == "index.html"
    assert config["Enabled"] is True


def test_security_headers(template_json: dict[str, Any]) -> None:
    # Given the response headers policy
    _, policy = only(template_json, "AWS::CloudFront::ResponseHeadersPolicy")
    headers = policy["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]

    # When / Then HSTS for two years with subdomains, nosniff, no framing, no referrer, each
    # overriding whatever the origin sends
    assert headers["StrictTransportSecurity"] == {
        "AccessControlMaxAgeSec": 63_072_000,
        "IncludeSubdomains": True,
        "Override": True,
    }
    assert headers["ContentTypeOptions"] == {"Override": True}
    assert headers["FrameOptions"] == {"FrameOption": "DENY", "Override": True}
    assert headers["ReferrerPolicy"] == {"ReferrerPolicy": "no-referrer", "Override": True}
    assert headers["ContentSecurityPolicy"]["Override"] is True


def test_content_security_policy_allows_the_page_and_its_apis_only(
    template_json: dict[str, Any],
) -> None:
    # Given the policy's text, with the references to the stack's resources in it
    _, policy = only(template_json, "AWS::CloudFront::ResponseHeadersPolicy")
    csp = policy["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"][
        "ContentSecurityPolicy"
    ]["ContentSecurityPolicy"]
    parts = csp["Fn::Join"][1]
    text = "".join(p if isinstance(p, str) else "{ref}" for p in parts)
    directives = dict(d.strip().split(" ", 1) for d in text.split(";"))

    # When / Then scripts and styles come from the page's origin only: nothing inline or
    # evaluated; it is never framed, has no <base> or plugins
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert directives["base-uri"] == "'none'"
    assert "unsafe" not in text
    # And it connects to its origin and the stack's WebSocket, REST and MCP APIs and the
    # user pool's sign-in domain, nothing else
    refs = [p for p in parts if not isinstance(p, str)]
    websocket_api = [k for k, r in resources(template_json, "AWS::ApiGatewayV2::Api").items()]
    rest_api, _ = only(template_json, "AWS::ApiGateway::RestApi")
    domain, _ = only(template_json, "AWS::Cognito::UserPoolDomain")
    assert sorted(json.dumps(r) for r in refs if "Ref" not in r or "AWS::" not in r["Ref"]) == (
        sorted(
            [json.dumps({"Fn::GetAtt": [api, "ApiEndpoint"]}) for api in websocket_api]
            + [json.dumps({"Ref": rest_api}), json.dumps({"Ref": domain})]
        )
    )
    assert directives["connect-src"] == (
        "'self' {ref} https://{ref}.execute-api.{ref}.{ref} {ref} https://{ref}.auth.{ref}"
        ".amazoncognito.com"
    )


def test_deployment_copies_web_and_writes_config_js(
    app: cdk.App, template_json: dict[str, Any]
) -> None:
    # Given the deployment custom resource and the assets it copies
    props = _deployment(template_json)
    bucket_id = _site_bucket_id(template_json)
    distribution_id, _ = _distribution(template_json)
    folders = [_staged(app, key) for key in props["SourceObjectKeys"]]

    # When / Then it mirrors its sources into the site bucket (removing what web/ no longer
    # has), marks them no-cache and invalidates the distribution
    assert props["DestinationBucketName"] == {"Ref": bucket_id}
    assert props["Prune"] is True
    assert props["SystemMetadata"] == {"cache-control": "no-cache"}
    assert props["DistributionId"] == {"Ref": distribution_id}
    assert props["DistributionPaths"] == ["/*"]
    # And the sources are web/ as it is, but its config.js, then the written config.js
    web = {p.relative_to(WEB_DIR).as_posix() for p in WEB_DIR.rglob("*") if p.is_file()}
    staged = [{p.relative_to(f).as_posix() for p in f.rglob("*") if p.is_file()} for f in folders]
    assert "index.html" in web
    assert staged == [web - {"config.js"}, {"config.js"}]


def test_config_js_names_the_deployed_apis_and_the_sign_in(
    app: cdk.App, template_json: dict[str, Any]
) -> None:
    # Given config.js as the deployment writes it, and the resources it should name
    settings, text = _config_js(app, template_json)
    pool, _ = only(template_json, "AWS::Cognito::UserPool")
    client_id, client = only(template_json, "AWS::Cognito::UserPoolClient")
    domain, _ = only(template_json, "AWS::Cognito::UserPoolDomain")
    rest_api, _ = only(template_json, "AWS::ApiGateway::RestApi")
    distribution_id, _ = _distribution(template_json)
    apis = {
        r["Properties"]["Name"]: k
        for k, r in resources(template_json, "AWS::ApiGatewayV2::Api").items()
    }

    # When / Then it sets window.FIXLOOP_CONFIG with exactly the documented keys
    assert text.count(CONFIG_VARIABLE) == 1
    assert tuple(settings) == CONFIG_KEYS
    assert CONFIG_KEYS == (
        "websocketUrl",
        "restUrl",
        "mcpUrl",
        "region",
        "userPoolId",
        "userPoolClientId",
        "userPoolDomain",
        "oauthScopes",
        "redirectUri",
    )
    # And each value is the deployed resource's, resolved at deployment
    markers = {
        key: _markers(template_json, value)
        for key, value in settings.items()
        if isinstance(value, str)
    }
    assert settings["websocketUrl"].startswith("wss://") and settings["websocketUrl"].endswith(
        "/live"
    )
    assert markers["websocketUrl"][0] == {"Ref": apis["fixloop-live"]}
    assert markers["restUrl"][0] == {"Ref": rest_api}
    assert markers["mcpUrl"] == [{"Fn::GetAtt": [apis["fixloop-mcp"], "ApiEndpoint"]}]
    assert settings["mcpUrl"].endswith("/mcp")
    assert markers["region"] == [{"Ref": "AWS::Region"}]
    assert markers["userPoolId"] == [{"Ref": pool}]
    assert markers["userPoolClientId"] == [{"Ref": client_id}]
    assert markers["userPoolDomain"] == [{"Ref": domain}, {"Ref": "AWS::Region"}]
    assert settings["userPoolDomain"].startswith("https://")
    assert settings["oauthScopes"] == client["Properties"]["AllowedOAuthScopes"]
    assert markers["redirectUri"] == [{"Fn::GetAtt": [distribution_id, "DomainName"]}]
    assert MARKER.sub("{}", settings["redirectUri"]) == "https://{}/"


def test_web_client_signs_in_on_the_hosted_ui_and_returns_to_the_live_view(
    template_json: dict[str, Any],
) -> None:
    # Given the user pool's domain and its web client
    pool, _ = only(template_json, "AWS::Cognito::UserPool")
    _, domain = only(template_json, "AWS::Cognito::UserPoolDomain")
    _, client = only(template_json, "AWS::Cognito::UserPoolClient")
    props = client["Properties"]
    distribution_id, _ = _distribution(template_json)

    # When / Then the hosted UI is the pool's, on a prefix derived from the stack's id
    assert domain["Properties"]["UserPoolId"] == {"Ref": pool}
    prefix = domain["Properties"]["Domain"]["Fn::Join"]
    assert prefix[0] == "-" and prefix[1][0] == "fixloop"
    assert "AWS::StackId" in json.dumps(prefix[1][1])
    # And the client is public and uses the authorization code grant only (no implicit
    # grant), for an ID token naming the person
    assert props.get("GenerateSecret", False) is False
    assert props["AllowedOAuthFlowsUserPoolClient"] is True
    assert props["AllowedOAuthFlows"] == ["code"]
    assert props["AllowedOAuthScopes"] == ["openid", "email", "profile"]
    assert props["SupportedIdentityProviders"] == ["COGNITO"]
    # And it returns only to the live view, after signing in and out
    url = _distribution_url(distribution_id)
    assert props["CallbackURLs"] == [url]
    assert props["LogoutURLs"] == [url]
    assert template_json["Outputs"]["LiveViewUrl"]["Value"] == url


def test_domain_prefix_from_context(tmp_path: Path, prebuilt_layer: Path) -> None:
    # Given a prefix in context / When the stack is synthesized
    template = synth_template(
        tmp_path, prebuilt_layer, **{CONTEXT_COGNITO_DOMAIN_PREFIX: "acme-fixloop"}
    )

    # Then the hosted UI lives there
    _, domain = only(template, "AWS::Cognito::UserPoolDomain")
    assert domain["Properties"]["Domain"] == "acme-fixloop"


@pytest.mark.parametrize(
    "prefix", ["Acme", "acme_fixloop", "-acme", "acme-", "my-aws-login", "cognito-acme", "a" * 64]
)
def test_a_domain_prefix_cognito_would_refuse_stops_the_synth(prefix: str) -> None:
    with pytest.raises(ValueError, match="cognito_domain_prefix"):
        FixloopConfig(cognito_domain_prefix=prefix)


def test_deployment_role_may_copy_into_the_site_and_invalidate_its_distribution_only(
    template_json: dict[str, Any],
) -> None:
    # Given the role of the function CloudFormation runs for the deployment
    (provider,) = {
        r["Properties"]["ServiceToken"]["Fn::GetAtt"][0]
        for r in resources(template_json, "Custom::CDKBucketDeployment").values()
    }
    role_id = template_json["Resources"][provider]["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = policy_of_role(template_json, role_id)
    granted = {a: statement_resources(s) for s in statements for a in actions(s)}
    bucket_id = _site_bucket_id(template_json)
    distribution_id, _ = _distribution(template_json)
    objects = {"Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, "/*"]]}

    # When / Then it reads the asset zips, lists, puts and deletes the site's files, and
    # invalidates this distribution: no wildcard action, nothing else
    assert set(granted) == {
        "s3:GetObject",
        "s3:ListBucket",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:AbortMultipartUpload",
        "cloudfront:CreateInvalidation",
        "cloudfront:GetInvalidation",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    }
    assert granted["s3:ListBucket"] == [{"Fn::GetAtt": [bucket_id, "Arn"]}]
    for action in ("s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"):
        assert granted[action] == [objects], action
    assert "cdk-hnb659fds-assets" in json.dumps(granted["s3:GetObject"])
    (invalidation,) = granted["cloudfront:CreateInvalidation"]
    assert invalidation["Fn::Join"][1][-2:] == [":distribution/", {"Ref": distribution_id}]
    # And the policy is in place before the deployment runs
    (policy_id,) = [
        k
        for k, p in resources(template_json, "AWS::IAM::Policy").items()
        if p["Properties"]["Roles"] == [{"Ref": role_id}]
    ]
    _, deployment = only(template_json, "Custom::CDKBucketDeployment")
    assert policy_id in deployment["DependsOn"]


def test_cloudfront_findings_are_acknowledged_with_reasons(stack: FixloopStack) -> None:
    # Given the live view's constructs
    view = stack.live_view

    # When cdk-nag validates the stack
    report = AwsSolutionsChecks().validate_scope(stack)

    # Then nothing is left, and the CloudFront rules that are not met (geo restriction,
    # WAF, access logs, TLS policy of the default certificate) are acknowledged with reasons
    assert report.success, [v.rule_name for v in report.violations]
    acknowledged = acknowledgments([view.distribution])
    for rule in ("CFR1", "CFR2", "CFR3", "CFR4"):
        ((_, reason),) = acknowledged[f"AwsSolutions-{rule}"]
        assert len(reason) > 40, rule
    assert not {r for r in acknowledged if r.startswith("AwsSolutions-CFR") and r[-1] in "567"}
