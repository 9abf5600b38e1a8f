"""Where the sandbox VPC may go (stacks/constructs/egress.py): the DNS allow-list, enforced by
Route 53 Resolver DNS Firewall, its defaults and what context adds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3

from app import build_app
from stacks.config import (
    CONTEXT_LAYER_ASSET_DIR,
    CONTEXT_SANDBOX_EGRESS_DOMAINS,
    CONTEXT_SANDBOX_IMAGE_URI,
)
from stacks.constructs.egress import (
    ASSOCIATION_PRIORITY,
    CODE_HOST_DOMAINS,
    DEFAULT_EGRESS_DOMAINS,
    PACKAGE_INDEX_DOMAINS,
    egress_domains,
)
from tests.infra.support import blobs_bucket_id, only, resources

MARKETPLACE_IMAGE = "709825985650.dkr.ecr.us-east-1.amazonaws.com/acme/fixloop-sandbox:1.0.0"


def render(value: Any, refs: dict[str, str]) -> str:
    """A domain of the template as text: joins concatenated, references by ``refs``."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        separator, items = value["Fn::Join"]
        return str(separator).join(render(item, refs) for item in items)
    if "Ref" in value:
        return refs[value["Ref"]]
    raise AssertionError(f"unexpected in a domain: {value}")


def firewall(template_json: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """The allowed domains (rendered) and the rule group of the template's DNS Firewall."""
    lists = resources(template_json, "AWS::Route53Resolver::FirewallDomainList")
    (allowed,) = [r for r in lists.values() if r["Properties"]["Domains"] != ["*"]]
    refs = {
        "AWS::Region": "REGION",
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::AccountId": "ACCOUNT",
        blobs_bucket_id(template_json): "BLOBS",
    }
    _, rules = only(template_json, "AWS::Route53Resolver::FirewallRuleGroup")
    return [render(d, refs) for d in allowed["Properties"]["Domains"]], rules


AWS_ENDPOINTS = [
    "states.REGION.amazonaws.com",
    "ecs.REGION.amazonaws.com",
    "lambda.REGION.amazonaws.com",
    "dynamodb.REGION.amazonaws.com",
    "ACCOUNT.ddb.REGION.amazonaws.com",
    "BLOBS.s3.REGION.amazonaws.com",
    "logs.REGION.amazonaws.com",
]


def test_dns_firewall_allows_the_list_then_blocks_every_other_name(
    template_json: dict[str, Any],
) -> None:
    # Given the template's DNS Firewall: domain lists, rule group, association
    lists = resources(template_json, "AWS::Route53Resolver::FirewallDomainList")
    (everything,) = [k for k, r in lists.items() if r["Properties"]["Domains"] == ["*"]]
    (allowed,) = set(lists) - {everything}
    rules_id, rule_group = only(template_json, "AWS::Route53Resolver::FirewallRuleGroup")
    _, association = only(template_json, "AWS::Route53Resolver::FirewallRuleGroupAssociation")
    vpc_id, _ = only(template_json, "AWS::EC2::VPC")

    # When its rules are taken in the order the resolver applies them (lowest priority first)
    rules = sorted(rule_group["Properties"]["FirewallRules"], key=lambda r: r["Priority"])

    # Then the allow-list resolves first (an allowed name vouches for its CNAME chain), and
    # every other name answers NXDOMAIN
    assert rules == [
        {
            "Action": "ALLOW",
            "FirewallDomainListId": {"Fn::GetAtt": [allowed, "Id"]},
            "FirewallDomainRedirectionAction": "TRUST_REDIRECTION_DOMAIN",
            "Priority": rules[0]["Priority"],
        },
        {
            "Action": "BLOCK",
            "BlockResponse": "NXDOMAIN",
            "FirewallDomainListId": {"Fn::GetAtt": [everything, "Id"]},
            "Priority": rules[1]["Priority"],
        },
    ]
    assert rules[0]["Priority"] < rules[1]["Priority"]
    # And the rule group is associated with the sandbox VPC (where the sandbox tasks and the
    # dispatch function run), in the range AWS allows
    props = association["Properties"]
    assert props["VpcId"] == {"Ref": vpc_id}
    assert props["FirewallRuleGroupId"] == {"Fn::GetAtt": [rules_id, "Id"]}
    assert props["Priority"] == ASSOCIATION_PRIORITY and 100 <= ASSOCIATION_PRIORITY <= 9900
    # And its id is an output (a Network Firewall's resolved IP validation names it)
    assert template_json["Outputs"]["SandboxDnsFirewallRuleGroupId"]["Value"] == {
        "Fn::GetAtt": [rules_id, "Id"]
    }


def test_allow_list_is_the_code_host_package_indexes_and_the_aws_endpoints(
    template_json: dict[str, Any],
) -> None:
    # Given / When the allowed domains of the shared app (no context adds any)
    domains, _ = firewall(template_json)

    # Then they are GitHub, the package indexes, the regional AWS endpoints the sandbox and
    # the dispatcher call (S3 by the Blobs bucket's own name only), and the image pull from
    # this account's registry (the image asset); nothing else
    assert domains == [
        *CODE_HOST_DOMAINS,
        *PACKAGE_INDEX_DOMAINS,
        *AWS_ENDPOINTS,
        "ACCOUNT.dkr.ecr.REGION.amazonaws.com",
        "api.ecr.REGION.amazonaws.com",
        "prod-REGION-starport-layer-bucket.s3.REGION.amazonaws.com",
    ]
    assert {"github.com", "pypi.org", "registry.npmjs.org", "proxy.golang.org"} <= set(domains)
    assert not [d for d in domains if d.startswith("*") or "s3.amazonaws.com" in d]


@pytest.fixture(scope="module")
def configured_template(tmp_path_factory: pytest.TempPathFactory, prebuilt_layer: Path) -> Any:
    """The app with domains added by context and the Marketplace's image (a registry in
    us-east-1, whatever the stack's region)."""
    app = build_app(
        cdk.App(
            outdir=str(tmp_path_factory.mktemp("cdk.out")),
            context={
                CONTEXT_LAYER_ASSET_DIR: str(prebuilt_layer),
                # as `cdk deploy -c` passes a list: a JSON string
                CONTEXT_SANDBOX_EGRESS_DOMAINS: '["pypi.acme.example", "github.com"]',
                CONTEXT_SANDBOX_IMAGE_URI: MARKETPLACE_IMAGE,
            },
        )
    )
    return app.synth().get_stack_by_name("Fixloop").template


def test_context_adds_domains_and_the_image_registry_replaces_the_asset_one(
    configured_template: dict[str, Any],
) -> None:
    # Given / When the allowed domains of an app given fixloop:sandbox_egress_domains and an
    # image URI
    domains, _ = firewall(configured_template)

    # Then the defaults and the AWS endpoints stay, the image is pulled from its own registry
    # (its ECR API and layer bucket are the registry region's), and the added domain comes
    # last; one already allowed (github.com) is not repeated
    assert domains == [
        *DEFAULT_EGRESS_DOMAINS,
        *AWS_ENDPOINTS,
        "709825985650.dkr.ecr.us-east-1.amazonaws.com",
        "api.ecr.us-east-1.amazonaws.com",
        "prod-us-east-1-starport-layer-bucket.s3.us-east-1.amazonaws.com",
        "pypi.acme.example",
    ]


def test_an_image_outside_ecr_allows_its_host_only() -> None:
    # Given a stack in a fixed region and a bucket
    stack = cdk.Stack(
        cdk.App(), "S", env=cdk.Environment(account="123456789012", region="eu-west-1")
    )
    bucket = s3.Bucket.from_bucket_name(stack, "Blobs", "blobs-bucket")

    # When the allow-list is made for an image of another registry
    made = egress_domains(stack, blobs=bucket, image_uri="registry.acme.example/sandbox:1")
    domains = [render(stack.resolve(d), {"AWS::URLSuffix": "amazonaws.com"}) for d in made]

    # Then its host is allowed (the operator adds what else that registry needs), and no ECR
    assert domains[-1] == "registry.acme.example"
    assert not [d for d in domains if ".ecr." in d or "starport" in d]
    assert "blobs-bucket.s3.eu-west-1.amazonaws.com" in domains
