"""The sandbox network: a two-AZ VPC, one NAT gateway, and who may talk to whom.

Sandbox tasks and the dispatch function live in the private subnets; the public subnets exist
only for the NAT gateway (nothing is placed there and tasks get no public IP). S3 and DynamoDB
are reached through gateway endpoints, everything else (git hosts, package indexes, the other
AWS APIs) through the NAT gateway.
"""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

__all__ = ["SANDBOX_PORT", "Network"]

SANDBOX_PORT = 8080
"""The TCP port a sandbox serves tool calls on."""

_PRIVATE = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)


class Network(Construct):
    """VPC, flow logs, gateway endpoints and the two security groups of the sandbox.

    The VPC takes its availability zones from the stack (``Stack.availability_zones``):
    :class:`stacks.FixloopStack` makes those the first two of the region at deploy time
    (``Fn::GetAZs``), so synthesis never looks them up, even with an explicit environment.
    """

    def __init__(self, scope: Construct, construct_id: str) -> None:
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
            gateway_endpoints={
                "S3": ec2.GatewayVpcEndpointOptions(
                    service=ec2.GatewayVpcEndpointAwsService.S3, subnets=[_PRIVATE]
                ),
                "DynamoDB": ec2.GatewayVpcEndpointOptions(
                    service=ec2.GatewayVpcEndpointAwsService.DYNAMODB, subnets=[_PRIVATE]
                ),
            },
            # Nothing uses the default security group. Stripping its rules takes a custom
            # resource (a Node.js Lambda function and its role) that this stack would not
            # otherwise need.
            restrict_default_security_group=False,
        )
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
        # NAT gateway). Security groups do not filter the VPC's DNS resolver nor the ECS task
        # metadata and credentials endpoint (169.254.170.2), so those need no rule.
        # A repository whose tests need other ports (a database, SSH git remotes, plain HTTP
        # mirrors) can be given them here, per repository, by an operator who decides so.
        self.sandbox_security_group.add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS: git, package indexes, AWS APIs"
        )
        self.dispatch_security_group.add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS: ECS, DynamoDB, Step Functions APIs"
        )
