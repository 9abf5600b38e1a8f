"""Where the sandbox VPC may go: a DNS allow-list, enforced by Route 53 Resolver DNS Firewall.

The VPC's resolver answers only the domains of :func:`egress_domains`; every other name is
NXDOMAIN. So a command in a sandbox reaches the code host, the package indexes and the few AWS
endpoints the VPC needs by name, and nothing else by name. The list:

- :data:`CODE_HOST_DOMAINS`: clone and fetch from GitHub (git over HTTPS, archives, LFS and
  release downloads);
- :data:`PACKAGE_INDEX_DOMAINS`: the public indexes a repository's tests install from
  (Python, JavaScript, Java, Go, Rust, Ruby);
- :func:`aws_domains`: the regional endpoints the sandbox and the in-VPC dispatch function
  call, and what Fargate pulls the image and ships the logs through (platform 1.4 uses the
  task's network interface, so the VPC's resolver, for both);
- the deployment's own additions (``fixloop:sandbox_egress_domains``).

Names are matched as written (``*.example.com`` for subdomains); the chain an allowed name
resolves through (CNAMEs to a CDN) is trusted. A filter of names is not a filter of
addresses: see docs/deploying.md ("Sandbox egress") for what remains open and how to close it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_route53resolver as resolver
from aws_cdk import aws_s3 as s3
from constructs import Construct

__all__ = [
    "ASSOCIATION_PRIORITY",
    "CODE_HOST_DOMAINS",
    "DEFAULT_EGRESS_DOMAINS",
    "PACKAGE_INDEX_DOMAINS",
    "DnsFirewall",
    "aws_domains",
    "ecr_layer_bucket",
    "egress_domains",
]

CODE_HOST_DOMAINS = ("github.com", "codeload.github.com", "objects.githubusercontent.com")
"""git clone/fetch over HTTPS; archive downloads; LFS objects and release assets."""

PACKAGE_INDEX_DOMAINS = (
    # Python: the index (simple API) and the files it links to
    "pypi.org",
    "files.pythonhosted.org",
    # JavaScript: npm's registry, and yarn classic's default mirror of it
    "registry.npmjs.org",
    "registry.yarnpkg.com",
    # Java: Maven Central (Maven's and Gradle's default), under both names
    "repo.maven.apache.org",
    "repo1.maven.org",
    # Go: the module proxy and the checksum database (GOPROXY, GOSUMDB defaults)
    "proxy.golang.org",
    "sum.golang.org",
    # Rust: crates.io's sparse index and its downloads
    "index.crates.io",
    "static.crates.io",
    # Ruby: RubyGems (Bundler's compact index)
    "rubygems.org",
    "index.rubygems.org",
)

DEFAULT_EGRESS_DOMAINS = CODE_HOST_DOMAINS + PACKAGE_INDEX_DOMAINS
"""The fixed part of the allow-list (the AWS part depends on the deployment)."""

ASSOCIATION_PRIORITY = 1000
"""Where the rule group sits among the VPC's rule groups (100-9900; lower runs first)."""

_ECR_HOST = re.compile(r"^[0-9]{12}\.dkr\.ecr\.([a-z0-9-]+)\.(amazonaws\.com(?:\.cn)?)$")


def ecr_layer_bucket(region: str) -> str:
    """The S3 bucket ECR serves image layers of ``region``'s registries from."""
    return f"prod-{region}-starport-layer-bucket"


def aws_domains(stack: cdk.Stack, *, blobs: s3.IBucket, image_uri: str = "") -> list[str]:
    """The AWS endpoints the VPC needs, in the stack's region:

    - Step Functions: the sandbox answers task tokens, the dispatcher heartbeats them;
    - ECS and Lambda: the dispatcher runs, finds and stops tasks, invokes Repo Token;
    - DynamoDB (by name and account endpoint) and the Blobs bucket's own S3 name: the
      dispatcher's tables and objects (through the gateway endpoints), and the pre-signed
      URLs a sandbox puts to (the dispatcher signs with the regional name);
    - CloudWatch Logs: the sandbox task's log driver;
    - the image's registry, ECR's API and the registry region's layer bucket: the image pull.

    No KMS (S3 and DynamoDB call it themselves) and no STS (task and function credentials
    come from their runtimes, not from an endpoint in the VPC).
    """
    region, suffix, account = stack.region, stack.url_suffix, stack.account
    domains = [
        f"states.{region}.{suffix}",
        f"ecs.{region}.{suffix}",
        f"lambda.{region}.{suffix}",
        f"dynamodb.{region}.{suffix}",
        f"{account}.ddb.{region}.{suffix}",
        f"{blobs.bucket_name}.s3.{region}.{suffix}",
        f"logs.{region}.{suffix}",
    ]
    return domains + _registry_domains(stack, image_uri)


def _registry_domains(stack: cdk.Stack, image_uri: str) -> list[str]:
    """Where Fargate pulls the image from: the registry, ECR's API and layer bucket in the
    registry's region (the Marketplace's registry is in us-east-1, whatever the stack's)."""
    suffix = stack.url_suffix
    if not image_uri:
        # The image asset: the bootstrap repository, in this account and region.
        registry, region = f"{stack.account}.dkr.ecr.{stack.region}.{suffix}", stack.region
    elif cdk.Token.is_unresolved(image_uri):
        # A parameter (the standalone template), constrained to an ECR URI: the host is
        # before the first "/", the region its fourth label.
        registry = cdk.Fn.select(0, cdk.Fn.split("/", image_uri))
        region = cdk.Fn.select(3, cdk.Fn.split(".", registry))
    else:
        registry = image_uri.split("/", 1)[0]
        ecr = _ECR_HOST.match(registry)
        if ecr is None:
            # Another registry: its domains are the operator's to add.
            return [registry]
        region, suffix = ecr.group(1), ecr.group(2)
    return [
        registry,
        f"api.ecr.{region}.{suffix}",
        f"{ecr_layer_bucket(region)}.s3.{region}.{suffix}",
    ]


def egress_domains(
    stack: cdk.Stack, *, blobs: s3.IBucket, image_uri: str = "", extra: Sequence[str] = ()
) -> list[str]:
    """The whole allow-list: the defaults, the AWS endpoints, then ``extra`` (duplicates of
    what is already there dropped).

    An unresolved entry of ``extra`` is a CloudFormation parameter holding comma-separated
    domains (the standalone template's ``SandboxEgressDomains``), possibly empty: the list is
    then chosen at deploy time (a condition on the parameter, in ``stack``).
    """
    domains = [*DEFAULT_EGRESS_DOMAINS, *aws_domains(stack, blobs=blobs, image_uri=image_uri)]
    added = [d for d in dict.fromkeys(extra) if d not in domains]
    parameters = [d for d in added if cdk.Token.is_unresolved(d)]
    domains += [d for d in added if not cdk.Token.is_unresolved(d)]
    for index, parameter in enumerate(parameters):
        given = cdk.CfnCondition(
            stack,
            f"SandboxEgressDomainsGiven{index or ''}",
            expression=cdk.Fn.condition_not(cdk.Fn.condition_equals(parameter, "")),
        )
        domains = cdk.Token.as_list(
            cdk.Fn.condition_if(
                given.logical_id,
                cdk.Fn.split(",", cdk.Fn.join(",", [*domains, parameter])),
                domains,
            )
        )
    return domains


class DnsFirewall(Construct):
    """A DNS Firewall rule group on ``vpc``'s resolver: ``domains`` resolve (ALLOW, the
    redirection chain trusted), every other name answers NXDOMAIN (BLOCK ``*``).

    A name is allowed or blocked by the first rule (lowest priority) that matches it; the
    resolver fails closed if the firewall cannot answer (the VPC's default).
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, vpc: ec2.IVpc, domains: Sequence[str]
    ) -> None:
        super().__init__(scope, construct_id)
        # Fixed names (at most 64 characters, which a stack name could pass): one fixloop
        # stack per account and region, as for the state machine's name.
        name = "fixloop-sandbox-egress"
        self.allowed = resolver.CfnFirewallDomainList(
            self, "Allowed", name=f"{name}-allowed", domains=list(domains)
        )
        self.everything = resolver.CfnFirewallDomainList(
            self, "Everything", name=f"{name}-everything", domains=["*"]
        )
        self.rule_group = resolver.CfnFirewallRuleGroup(
            self,
            "Rules",
            name=name,
            firewall_rules=[
                resolver.CfnFirewallRuleGroup.FirewallRuleProperty(
                    priority=100,
                    action="ALLOW",
                    firewall_domain_list_id=self.allowed.attr_id,
                    # Package indexes and AWS endpoints answer through CNAMEs (CDNs, S3's
                    # regional names): the allowed name vouches for its chain.
                    firewall_domain_redirection_action="TRUST_REDIRECTION_DOMAIN",
                ),
                resolver.CfnFirewallRuleGroup.FirewallRuleProperty(
                    priority=200,
                    action="BLOCK",
                    block_response="NXDOMAIN",
                    firewall_domain_list_id=self.everything.attr_id,
                ),
            ],
        )
        self.association = resolver.CfnFirewallRuleGroupAssociation(
            self,
            "Association",
            name=name,
            firewall_rule_group_id=self.rule_group.attr_id,
            vpc_id=vpc.vpc_id,
            priority=ASSOCIATION_PRIORITY,
        )
