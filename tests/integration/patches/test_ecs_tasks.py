"""patches.ecs_tasks: RunTask and StopTask call the hooks with each task."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from fixloop.local import patches
from tests.integration.patches.harness import PREFIX, Moto


@pytest.fixture
def hooks() -> Iterator[tuple[list[tuple[str, dict[str, str]]], list[str]]]:
    started: list[tuple[str, dict[str, str]]] = []
    stopped: list[str] = []

    def run(arn: str, env: dict[str, str]) -> None:
        started.append((arn, env))

    # The hooks are process-wide: an embedded runtime of this test process has its own set.
    previous = patches.set_task_hooks(run, stopped.append)
    try:
        yield started, stopped
    finally:
        patches.set_task_hooks(*previous)


def test_run_task_and_stop_task_reach_the_hooks(
    moto: Moto, hooks: tuple[list[tuple[str, dict[str, str]]], list[str]]
) -> None:
    started, stopped = hooks
    # Given a Fargate task definition as the CDK app has it, on a VPC with DNS hostnames
    ec2 = moto.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.43.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.43.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName=f"{PREFIX}-tasks", Description="t", VpcId=vpc)
    ecs = moto.client("ecs")
    cluster = ecs.create_cluster(clusterName=f"{PREFIX}-cluster")["cluster"]["clusterArn"]
    task_definition = ecs.register_task_definition(
        family=f"{PREFIX}-task",
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="1024",
        memory="2048",
        containerDefinitions=[{"name": "main", "image": "x", "memory": 2048, "essential": True}],
    )["taskDefinition"]["taskDefinitionArn"]
    # When a task is run with environment overrides, then stopped
    task = ecs.run_task(
        cluster=cluster,
        taskDefinition=task_definition,
        launchType="FARGATE",
        networkConfiguration={
            "awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group["GroupId"]]}
        },
        overrides={
            "containerOverrides": [
                {"name": "main", "environment": [{"name": "WHO", "value": json.dumps("me")}]}
            ]
        },
    )["tasks"][0]
    ecs.stop_task(cluster=cluster, task=task["taskArn"], reason="done")
    # Then the hooks saw the task, with its environment, and its stop
    assert started == [(task["taskArn"], {"WHO": '"me"'})]
    assert stopped == [task["taskArn"]]
