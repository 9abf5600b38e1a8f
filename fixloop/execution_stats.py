"""What one Step Functions execution cost, from its history (AWS or the embedded runtime).

Pure boto3 paging over ``GetExecutionHistory``: no moto import, so it works against AWS too.
"""

from __future__ import annotations

from dataclasses import dataclass
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


def execution_stats(sfn_client: Any, execution_arn: str) -> ExecutionStats:
    """Page through the execution's history and count events, transitions and payload size."""
    history_events = 0
    state_transitions = 0
    max_payload_bytes = 0
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
    return ExecutionStats(
        history_events=history_events,
        state_transitions=state_transitions,
        max_payload_bytes=max_payload_bytes,
    )


def _largest_payload(event: dict[str, Any]) -> int:
    largest = 0
    for key, details in event.items():
        if not key.endswith("EventDetails") or not isinstance(details, dict):
            continue
        for field in PAYLOAD_FIELDS:
            value = details.get(field)
            if isinstance(value, str):
                largest = max(largest, len(value.encode("utf-8")))
    return largest
