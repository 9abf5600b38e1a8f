"""Start a sandbox for an investigation: an ECS Fargate task (a local process on the
embedded runtime, which hooks RunTask)."""

from __future__ import annotations

from fixloop import aws
from fixloop.config import get_settings
from fixloop.errors import ConfigError, SandboxUnavailable

__all__ = ["launch"]


def launch(investigation_id: str, sandbox_id: str) -> str:
    """Run one sandbox task; returns its task ARN."""
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
