"""Start a sandbox for an investigation: an ECS Fargate task (a local process on the
embedded runtime, which hooks RunTask)."""

from __future__ import annotations

from aws_lambda_powertools import Logger

from fixloop import aws
from fixloop.config import get_settings
from fixloop.errors import ConfigError, SandboxUnavailable

__all__ = ["launch", "stop_task", "task_address"]

logger = Logger(child=True)


def launch(investigation_id: str, sandbox_id: str, secret: str) -> str:
    """Run one sandbox task; returns its task ARN. ``secret`` is what the sandbox will want
    with every call."""
    s = get_settings()
    if not (s.sandbox_cluster and s.sandbox_task_definition and s.sandbox_subnets):
        raise ConfigError(
            "sandbox dispatch needs FIXLOOP_SANDBOX_CLUSTER, FIXLOOP_SANDBOX_TASK_DEFINITION "
            "and FIXLOOP_SANDBOX_SUBNETS"
        )
    resp = aws.client(
        "ecs"
    ).run_task(
        cluster=s.sandbox_cluster,
        taskDefinition=s.sandbox_task_definition,
        launchType="FARGATE",
        count=1,
        clientToken=sandbox_id,  # a retried launch of the same sandbox starts one task
        startedBy=f"fixloop-{sandbox_id}"[:36],
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": _split(s.sandbox_subnets),
                "securityGroups": _split(s.sandbox_security_groups),
                "assignPublicIp": "DISABLED",
            }
        },
        overrides={
            "containerOverrides": [
                {
                    "name": s.sandbox_container,
                    "environment": [
                        {"name": "FIXLOOP_SANDBOX_INVESTIGATION", "value": investigation_id},
                        {"name": "FIXLOOP_SANDBOX_ID", "value": sandbox_id},
                        {"name": "FIXLOOP_SANDBOX_SECRET", "value": secret},
                    ],
                }
            ]
        },
        tags=[{"key": "fixloop:investigation", "value": investigation_id}],
    )
    if resp.get("failures") or not resp.get("tasks"):
        reasons = "; ".join(f.get("reason", "?") for f in resp.get("failures", []))
        raise SandboxUnavailable(f"ECS could not start a sandbox: {reasons or 'no task'}")
    return str(resp["tasks"][0]["taskArn"])


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def task_address(task_arn: str) -> tuple[str, str | None]:
    """A sandbox task's last status and, once it runs, its private IP (its ENI's, as ECS
    reports it for the ``awsvpc`` network mode). An unknown task reads as ``STOPPED``."""
    s = get_settings()
    resp = aws.client("ecs").describe_tasks(cluster=s.sandbox_cluster, tasks=[task_arn])
    for task in resp.get("tasks", []):
        status = str(task.get("lastStatus", "PENDING"))
        if status != "RUNNING":
            return status, None
        for attachment in task.get("attachments", []):
            for detail in attachment.get("details", []):
                if detail.get("name") == "privateIPv4Address" and detail.get("value"):
                    return status, str(detail["value"])
        return status, None
    return "STOPPED", None


def stop_task(task_arn: str, reason: str) -> None:
    """Stop a sandbox task (replaced, lost, or its investigation closed); nothing when it
    has no task or the task is gone."""
    if not task_arn:
        return
    ecs = aws.client("ecs")
    try:
        ecs.stop_task(cluster=get_settings().sandbox_cluster, task=task_arn, reason=reason[:255])
    except ecs.exceptions.ClientException as exc:  # an unknown or already stopped task
        logger.info("sandbox task not stopped", extra={"task": task_arn, "error": str(exc)})
