"""Helpers for the aftercare tests: a delivered fix, short waits, the aftercare executions."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fixloop import aws
from fixloop.aftercare import execution_name_for
from fixloop.domain import DeployWatch, Investigation, StatusChanged, parse_signal
from fixloop.intake import start_investigation
from fixloop.store import stores
from tests.integration.scenario import log_of
from tests.runtime import LocalRuntime
from tests.support import alarm_event, head, logs_message, tool_use, wait_for, write_script

FIX_TURNS: list[list[dict[str, Any]]] = [
    [tool_use("edit_file", path="app/handler.py", old_text="event['user']", new_text="event")],
    [tool_use("open_pull_request", title="Read the id safely", body="Root cause: no user.")],
    [tool_use("finish", summary="Looked again after the recurrence.")],
]
"""Fix, deliver, then (reopened) conclude."""


def trace(caller: str, error: str = "KeyError: 'user'") -> str:
    """An error raised in app/handler.py, called from ``caller`` (which makes the problem's
    fingerprint: tests sharing the runtime's Fingerprints table each have their own)."""
    return (
        f"[ERROR] {error}\nTraceback (most recent call last):\n"
        f'  File "/var/task/app/{caller}.py", line 9, in {caller}\n'
        "    return handle(event)\n"
        '  File "/var/task/app/handler.py", line 2, in handle\n'
        f"    return event['user']['id']\n{error}"
    )


TRACE = trace("main")


@contextmanager
def fast(runtime: LocalRuntime, **settings: str) -> Iterator[None]:
    """Aftercare waits of seconds, not hours (the embedded runtime's Wait states sleep)."""
    values = {
        "deploy_poll_seconds": "1",
        "deploy_assumed_delay_seconds": "0",
        "deploy_timeout_seconds": "60",
        "verify_window_seconds": "2",
        **settings,
    }
    runtime.configure(**values)
    try:
        yield
    finally:
        runtime.configure(**dict.fromkeys(values))


def log_signal(group: str, *lines: str) -> dict[str, Any]:
    return logs_message(list(lines or (TRACE,)), group=group)


OTHER_ERROR = "TypeError: 'NoneType' object is not subscriptable"


def deliver(
    runtime: LocalRuntime,
    repo: Path,
    script: Path,
    *,
    signal: dict[str, Any] | None = None,
    deploy_watch: DeployWatch | None = None,
    turns: list[list[dict[str, Any]]] | None = None,
) -> Investigation:
    """An investigation that delivered its pull request (started directly, no triage)."""
    write_script(script, turns or FIX_TURNS)
    inv = start_investigation(
        parse_signal(signal or alarm_event()),
        repo=str(repo),
        commit=head(repo),
        model=f"scripted:{script}",
        deploy_watch=deploy_watch,
    )
    final = runtime.watcher.wait(inv.investigation_id, timeout_s=120)
    assert final.status == "delivered", final.outcome
    return final


def status_of(investigation_id: str) -> str:
    return stores().investigations.get(investigation_id).status


def wait_status(investigation_id: str, *statuses: str, timeout_s: float = 60) -> Investigation:
    wait_for(
        lambda: status_of(investigation_id) in statuses,
        timeout_s=timeout_s,
        what=f"{investigation_id} {'/'.join(statuses)} (is {status_of(investigation_id)})",
    )
    return stores().investigations.get(investigation_id)


def statuses_logged(investigation_id: str) -> list[str]:
    return [e.event.status for e in log_of(investigation_id) if isinstance(e.event, StatusChanged)]


def aftercare_execution(runtime: LocalRuntime, investigation_id: str, round_: int = 0) -> str:
    account = aws.client("sts").get_caller_identity()["Account"]
    name = execution_name_for(investigation_id, round_)
    machine = runtime.aftercare_state_machine_arn.rsplit(":", 1)[-1]
    return f"arn:aws:states:us-east-1:{account}:execution:{machine}:{name}"


def wait_execution_ended(execution_arn: str, timeout_s: float = 60) -> dict[str, Any]:
    sfn = aws.client("stepfunctions")
    deadline = time.monotonic() + timeout_s
    while True:
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING" or time.monotonic() > deadline:
            return described
        time.sleep(0.2)


def history(execution_arn: str) -> list[dict[str, Any]]:
    sfn = aws.client("stepfunctions")
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        events += page["events"]
    return events
