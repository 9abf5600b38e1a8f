"""What one Step Functions execution cost, from its history (AWS or the embedded runtime).

Pure boto3 paging over ``GetExecutionHistory``: no moto import, so it works against AWS too.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

# Fields of a ``*EventDetails`` object that carry state data (execution, state and task input
# and output, and the effective Parameters of a task), all bound by the 256 KiB payload quota.
PAYLOAD_FIELDS: Final = ("input", "output", "parameters")

# GetExecutionHistory accepts at most 1000 events per page.
_PAGE_SIZE: Final = 1000


@dataclass(frozen=True)
class ExecutionStats:
    """Counts for one execution, as AWS would meter and limit it."""

    history_events: int
    """Events in the history (the hard limit is 25,000 per execution)."""
    state_transitions: int
    """``*StateEntered`` events: the state transitions Standard workflows are billed by."""
    max_payload_bytes: int
    """Largest state or task input/output in the history, in UTF-8 bytes (quota 262,144)."""
    lambda_requests: dict[str, int] = field(default_factory=dict)
    """Lambda task invocations per function (its name as the state machine calls it)."""
    lambda_ms: dict[str, int] = field(default_factory=dict)
    """Per function, the summed time from each task's start to its Lambda returning (for a
    ``.waitForTaskToken`` task: to ``TaskSubmitted``, not to the token's answer). Step
    Functions' view, a little above the billed duration."""


def execution_stats(sfn_client: Any, execution_arn: str) -> ExecutionStats:
    """Page through the execution's history and count events, transitions and payload size."""
    history_events = 0
    state_transitions = 0
    max_payload_bytes = 0
    lambdas = _LambdaTasks()
    paginator = sfn_client.get_paginator("get_execution_history")
    pages = paginator.paginate(
        executionArn=execution_arn,
        includeExecutionData=True,
        PaginationConfig={"PageSize": _PAGE_SIZE},
    )
    for page in pages:
        for event in page["events"]:
            history_events += 1
            if str(event.get("type", "")).endswith("StateEntered"):
                state_transitions += 1
            max_payload_bytes = max(max_payload_bytes, _largest_payload(event))
            lambdas.see(event)
    return ExecutionStats(
        history_events=history_events,
        state_transitions=state_transitions,
        max_payload_bytes=max_payload_bytes,
        lambda_requests=lambdas.requests,
        lambda_ms=lambdas.ms,
    )


_FUNCTION = re.compile(r":function:([^:]+)")


class _LambdaTasks:
    """Follows TaskScheduled -> TaskStarted -> TaskSucceeded/Failed/Submitted chains (by
    ``previousEventId``; Map iterations interleave) of ``lambda:invoke`` tasks."""

    def __init__(self) -> None:
        self.requests: dict[str, int] = {}
        self.ms: dict[str, int] = {}
        self._scheduled: dict[int, str] = {}
        self._started: dict[int, tuple[str, datetime]] = {}

    def see(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "TaskScheduled":
            details = event.get("taskScheduledEventDetails", {})
            if details.get("resourceType") != "lambda":
                return
            try:
                target = str(json.loads(details.get("parameters", "{}")).get("FunctionName", ""))
            except json.JSONDecodeError:
                return
            match = _FUNCTION.search(target)
            self._scheduled[event["id"]] = match.group(1) if match else target
        elif kind == "TaskStarted":
            name = self._scheduled.pop(event.get("previousEventId", -1), None)
            if name is not None:
                self.requests[name] = self.requests.get(name, 0) + 1
                self._started[event["id"]] = (name, event["timestamp"])
        elif kind in ("TaskSucceeded", "TaskFailed", "TaskSubmitted", "TaskTimedOut"):
            started = self._started.pop(event.get("previousEventId", -1), None)
            if started is not None:
                name, at = started
                elapsed = (event["timestamp"] - at).total_seconds() * 1000
                self.ms[name] = self.ms.get(name, 0) + max(0, round(elapsed))


def _largest_payload(event: dict[str, Any]) -> int:
    largest = 0
    for key, details in event.items():
        if not key.endswith("EventDetails") or not isinstance(details, dict):
            continue
        for name in PAYLOAD_FIELDS:
            value = details.get(name)
            if isinstance(value, str):
                largest = max(largest, len(value.encode("utf-8")))
    return largest
