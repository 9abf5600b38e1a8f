"""The sandbox network: a two-AZ VPC, one NAT gateway, and who may talk to whom.

Sandbox tasks and the dispatch function live in the private subnets; the public subnets exist
only for the NAT gateway (nothing is placed there and tasks get no public IP). S3 and DynamoDB
are reached through gateway endpoints, everything else (git hosts, package indexes, the other
AWS APIs) through the NAT gateway. What the VPC may resolve is an allow-list
(stacks/constructs/egress.py); the gateway endpoints take this stack's bucket and this
account's tables only, so the S3 and DynamoDB names the allow-list must hold lead nowhere else.
"""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.constructs.egress import DnsFirewall, ecr_layer_bucket

__all__ = ["SANDBOX_PORT", "Network"]

SANDBOX_PORT = 8080
"""The TCP port a sandbox serves tool calls on."""

_PRIVATE = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)


class Network(Construct):
    """VPC, flow logs, gateway endpoints, the DNS allow-list and the two security groups of
    the sandbox.

    ``blobs``: the one bucket the VPC may reach through its S3 endpoint (besides ECR's layer
    bucket); ``egress_domains``: what its resolver answers (:func:`egress.egress_domains`).
    The VPC takes its availability zones from the stack (``Stack.availability_zones``):
    :class:`stacks.FixloopStack` makes those the first two of the region at deploy time
    (``Fn::GetAZs``), so synthesis never looks them up, even with an explicit environment.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        blobs: s3.IBucket,
        egress_domains: Sequence[str],
    ) -> None:
        super().__init__(scope, construct_id)

        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr("10.0.0.0/16"),
            max_azs=2,
            nat_gateways=1,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="Public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24
                ),
                # Room for many concurrent sandbox tasks (one ENI each) and the function's ENIs.
                ec2.SubnetConfiguration(
                    name="Private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=20
                ),
            ],
            # Nothing uses the default security group. Stripping its rules takes a custom
            # resource (a Node.js Lambda function and its role) that this stack would not
            # otherwise need.
            restrict_default_security_group=False,
        )
        self.s3_endpoint = self.vpc.add_gateway_endpoint(
            "S3", service=ec2.GatewayVpcEndpointAwsService.S3, subnets=[_PRIVATE]
        )
        self.dynamodb_endpoint = self.vpc.add_gateway_endpoint(
            "DynamoDB", service=ec2.GatewayVpcEndpointAwsService.DYNAMODB, subnets=[_PRIVATE]
        )
        self._restrict_endpoints(blobs)
        self.dns_firewall = DnsFirewall(self, "DnsFirewall", vpc=self.vpc, domains=egress_domains)
        self.private_subnet_selection = _PRIVATE
        """Where sandbox tasks and the dispatch function run."""
        self.private_subnets = self.vpc.select_subnets(subnet_type=_PRIVATE.subnet_type)
        """The subnets of :attr:`private_subnet_selection` (their ids, for RunTask)."""

        self.flow_logs_group = logs.LogGroup(
            self, "FlowLogs", retention=logs.RetentionDays.ONE_MONTH
        )
        # Every accepted and rejected flow: the record of where sandboxes connected to.
        self.vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(self.flow_logs_group),
            traffic_type=ec2.FlowLogTrafficType.ALL,
        )

        self.dispatch_security_group = ec2.SecurityGroup(
            self,
            "DispatchSecurityGroup",
            vpc=self.vpc,
            description="fixloop dispatch_tool function: calls sandboxes and AWS APIs",
            allow_all_outbound=False,
        )
        self.sandbox_security_group = ec2.SecurityGroup(
            self,
            "SandboxSecurityGroup",
            vpc=self.vpc,
            description="fixloop sandbox tasks: tool calls in from dispatch, HTTPS out",
            allow_all_outbound=False,
        )
        # Inbound: tool calls from the dispatch function only. This also opens the matching
        # egress of the dispatch security group (and nothing else of it).
        self.sandbox_security_group.connections.allow_from(
            self.dispatch_security_group,
            ec2.Port.tcp(SANDBOX_PORT),
            "tool calls from the dispatch function",
        )
        # Outbound: HTTPS only: git clone, pip/package indexes, the AWS APIs (DynamoDB and S3
        # through the gateway endpoints, Step Functions, ECR and CloudWatch Logs through the
        # NAT gateway), to the names the DNS allow-list resolves. Security groups do not
        # filter the VPC's DNS resolver nor the ECS task metadata and credentials endpoint
        # (169.254.170.2), so those need no rule.
        # A repository whose tests need other ports (a database, SSH git remotes, plain HTTP
        # mirrors) can be given them here, per repository, by an operator who decides so.
        self.sandbox_security_group.add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS: git, package indexes, AWS APIs"
        )
        self.dispatch_security_group.add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS: ECS, DynamoDB, Step Functions APIs"
        )

    def _restrict_endpoints(self, blobs: s3.IBucket) -> None:
        """Endpoint policies: through the S3 endpoint, the Blobs bucket and the layers of
        this region's ECR images; through the DynamoDB endpoint, this account's tables. A
        command with someone else's credentials cannot use either to write elsewhere (what a
        caller may do inside these is its role's business)."""
        stack = cdk.Stack.of(self)
        anyone = iam.AnyPrincipal()
        self.s3_endpoint.add_to_policy(
            iam.PolicyStatement(
                principals=[anyone],
                actions=["s3:GetObject", "s3:PutObject"],
                resources=[blobs.arn_for_objects("*")],
            )
        )
        self.s3_endpoint.add_to_policy(
            iam.PolicyStatement(
                principals=[anyone], actions=["s3:ListBucket"], resources=[blobs.bucket_arn]
            )
        )
        # Fargate pulls image layers from ECR's bucket (a pre-signed GET).
        self.s3_endpoint.add_to_policy(
            iam.PolicyStatement(
                principals=[anyone],
                actions=["s3:GetObject"],
                resources=[
                    f"arn:{stack.partition}:s3:::{ecr_layer_bucket(stack.region)}/*",
                ],
            )
        )
        self.dynamodb_endpoint.add_to_policy(
            iam.PolicyStatement(
                principals=[anyone],
                actions=["dynamodb:*"],
                resources=[
                    stack.format_arn(
                        service="dynamodb",
                        resource="table",
                        resource_name="*",
                        arn_format=cdk.ArnFormat.SLASH_RESOURCE_NAME,
                    )
                ],
            )
        )
