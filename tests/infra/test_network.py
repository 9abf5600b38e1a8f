"""The sandbox network (stacks/constructs/network.py): VPC, endpoints and their policies,
security groups. (Its DNS allow-list: test_egress.py.)"""

from __future__ import annotations

import json
from typing import Any

from aws_cdk.assertions import Template

from tests.infra.support import (
    actions,
    blobs_bucket_id,
    resources,
    rules_of,
    security_group_id,
    statement_resources,
)

SANDBOX_PORT = 8080


def test_vpc_has_two_azs_one_nat_flow_logs_and_gateway_endpoints(
    template: Template, template_json: dict[str, Any]
) -> None:
    # Given the networking resources of the template
    subnets = resources(template_json, "AWS::EC2::Subnet").values()
    endpoints = resources(template_json, "AWS::EC2::VPCEndpoint").values()

    # When / Then two public and two private subnets, in AZs resolved at deploy time
    public = [s for s in subnets if s["Properties"]["MapPublicIpOnLaunch"]]
    private = [s for s in subnets if not s["Properties"]["MapPublicIpOnLaunch"]]
    assert (len(public), len(private)) == (2, 2)
    assert {json.dumps(s["Properties"]["AvailabilityZone"]) for s in subnets} == {
        json.dumps({"Fn::Select": [i, {"Fn::GetAZs": ""}]}) for i in (0, 1)
    }
    # And one NAT gateway (in a public subnet), flow logs of all traffic to CloudWatch Logs
    template.resource_count_is("AWS::EC2::NatGateway", 1)
    template.has_resource_properties(
        "AWS::EC2::FlowLog",
        {"ResourceType": "VPC", "TrafficType": "ALL", "LogDestinationType": "cloud-watch-logs"},
    )
    # And gateway endpoints for S3 and DynamoDB on the private route tables
    services = sorted(json.dumps(e["Properties"]["ServiceName"]) for e in endpoints)
    assert len(services) == 2
    assert ".dynamodb" in services[0] and ".s3" in services[1]
    for endpoint in endpoints:
        assert endpoint["Properties"]["VpcEndpointType"] == "Gateway"
        assert len(endpoint["Properties"]["RouteTableIds"]) == 2


def test_sandbox_security_group_admits_only_the_dispatch_function_on_8080(
    template_json: dict[str, Any],
) -> None:
    # Given the two security groups
    sandbox_sg = security_group_id(template_json, "fixloop sandbox tasks")
    dispatch_sg = security_group_id(template_json, "fixloop dispatch_tool")

    # When their rules are collected
    sandbox_in = rules_of(template_json, sandbox_sg, "ingress")
    sandbox_out = rules_of(template_json, sandbox_sg, "egress")
    dispatch_out = rules_of(template_json, dispatch_sg, "egress")

    # Then the sandbox accepts TCP 8080 from the dispatch group and nothing else
    assert [
        (r["IpProtocol"], r["FromPort"], r["ToPort"], r["SourceSecurityGroupId"])
        for r in sandbox_in
    ] == [("tcp", SANDBOX_PORT, SANDBOX_PORT, {"Fn::GetAtt": [dispatch_sg, "GroupId"]})]
    # And it may only open HTTPS connections
    assert [(r["IpProtocol"], r["FromPort"], r["ToPort"], r["CidrIp"]) for r in sandbox_out] == [
        ("tcp", 443, 443, "0.0.0.0/0")
    ]
    # And the dispatch function reaches sandboxes on 8080 and HTTPS APIs, nothing else
    assert sorted(
        (r["FromPort"], json.dumps(r.get("DestinationSecurityGroupId", r.get("CidrIp"))))
        for r in dispatch_out
    ) == [
        (443, json.dumps("0.0.0.0/0")),
        (SANDBOX_PORT, json.dumps({"Fn::GetAtt": [sandbox_sg, "GroupId"]})),
    ]


def test_gateway_endpoints_reach_only_the_blobs_bucket_ecr_layers_and_this_accounts_tables(
    template_json: dict[str, Any],
) -> None:
    # Given the two gateway endpoints' policies and the bucket
    endpoints = resources(template_json, "AWS::EC2::VPCEndpoint").values()
    policies = {
        # (the service name is "com.amazonaws.<region>.<service>")
        e["Properties"]["ServiceName"]["Fn::Join"][1][-1].removeprefix("."): e["Properties"][
            "PolicyDocument"
        ]["Statement"]
        for e in endpoints
    }
    blobs_id = blobs_bucket_id(template_json)
    bucket = {"Fn::GetAtt": [blobs_id, "Arn"]}

    # When their statements are grouped by resource
    def granted(service: str) -> dict[str, set[str]]:
        by_resource: dict[str, set[str]] = {}
        for statement in policies[service]:
            assert statement["Effect"] == "Allow" and statement["Principal"] == {"AWS": "*"}
            assert "Condition" not in statement and "NotResource" not in statement
            for resource in statement_resources(statement):
                by_resource.setdefault(json.dumps(resource), set()).update(actions(statement))
        return by_resource

    # Then S3 through the VPC is the Blobs bucket (its objects, its listing) and the layers of
    # this region's ECR images: a name that resolves to S3 leads to no other bucket
    layers = {
        "Fn::Join": [
            "",
            ["arn:", {"Ref": "AWS::Partition"}, ":s3:::prod-", {"Ref": "AWS::Region"},
             "-starport-layer-bucket/*"],
        ]
    }  # fmt: skip
    assert granted("s3") == {
        json.dumps({"Fn::Join": ["", [bucket, "/*"]]}): {"s3:GetObject", "s3:PutObject"},
        json.dumps(bucket): {"s3:ListBucket"},
        json.dumps(layers): {"s3:GetObject"},
    }
    # And DynamoDB through the VPC is this account's tables in this region
    ((tables, table_actions),) = granted("dynamodb").items()
    assert '":dynamodb:", {"Ref": "AWS::Region"}, ":", {"Ref": "AWS::AccountId"}, ":table/*"' in (
        tables
    )
    assert table_actions == {"dynamodb:*"}
