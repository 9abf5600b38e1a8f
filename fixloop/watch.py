"""Follow an investigation to its end and summarise it, on AWS or on a local endpoint.

Works through boto3 only (the Events and Investigations tables, Step Functions), so the CLI
uses the same code against the embedded runtime, a LocalStack, or a real deployment.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fixloop import aws
from fixloop.domain import Investigation, execution_name
from fixloop.domain.investigation import TERMINAL_STATUSES
from fixloop.errors import ConfigError, FixloopError
from fixloop.execution_stats import execution_stats
from fixloop.store import StoredEvent, stores

STATE_MACHINE_NAME = "fixloop-investigation"


class WaitTimeout(FixloopError):
    """An investigation did not finish within the time allowed."""


@dataclass(frozen=True)
class RunSummary:
    investigation: Investigation
    events: int
    tool_calls: int
    executions: int
    state_transitions: int
    history_events: int
    max_state_payload_bytes: int
    duration_s: float

    def as_json(self) -> dict[str, Any]:
        inv = self.investigation
        return {
            "investigation_id": inv.investigation_id,
            "status": inv.status,
            "outcome": inv.outcome,
            "turns": inv.turns,
            "tool_calls": self.tool_calls,
            "events": self.events,
            "executions": self.executions,
            "state_transitions": self.state_transitions,
            "history_events": self.history_events,
            "max_state_payload_bytes": self.max_state_payload_bytes,
            "duration_s": round(self.duration_s, 3),
            "model": inv.model,
            "pull_request": inv.pull_request.model_dump() if inv.pull_request else None,
        }


class Watcher:
    """Follows the investigations of one state machine."""

    def __init__(self, state_machine_arn: str) -> None:
        self.state_machine_arn = state_machine_arn

    @classmethod
    def find(cls, name: str = STATE_MACHINE_NAME) -> Watcher:
        """The deployed state machine called ``name`` at the configured endpoint."""
        sfn = aws.client("stepfunctions")
        for page in sfn.get_paginator("list_state_machines").paginate():
            for machine in page["stateMachines"]:
                if machine["name"] == name:
                    return cls(machine["stateMachineArn"])
        raise ConfigError(
            f"no state machine named {name} at {sfn.meta.endpoint_url}: deploy fixloop there "
            "first, or unset AWS_ENDPOINT_URL to use the embedded runtime"
        )

    def wait(
        self,
        investigation_id: str,
        *,
        timeout_s: float = 600,
        on_event: Callable[[StoredEvent], None] | None = None,
        poll_s: float = 0.1,
    ) -> Investigation:
        """Follow the log until the investigation is closed and its executions ended.

        Tool results of one turn are written in parallel, so they can land out of position
        order; the follower re-reads from the last turn boundary and skips what it has seen.
        """
        st = stores()
        deadline = time.monotonic() + timeout_s
        seen: set[str] = set()
        settled: str | None = None  # everything up to here is final

        def drain() -> None:
            nonlocal settled
            previous = settled
            for stored in st.events.read(investigation_id, after=settled):
                if stored.event.type == "assistant_message" and previous is not None:
                    settled = previous
                previous = stored.position
                if stored.position in seen:
                    continue
                seen.add(stored.position)
                if on_event is not None:
                    on_event(stored)

        while True:
            drain()
            inv = st.investigations.get(investigation_id)
            if inv.status in TERMINAL_STATUSES and not self._running(inv):
                drain()
                return inv
            if time.monotonic() > deadline:
                raise WaitTimeout(
                    f"investigation {investigation_id} still {inv.status} after {timeout_s:.0f}s"
                )
            time.sleep(poll_s)

    def executions(self, investigation_id: str) -> list[dict[str, Any]]:
        sfn = aws.client("stepfunctions")
        found: list[dict[str, Any]] = []
        for page in sfn.get_paginator("list_executions").paginate(
            stateMachineArn=self.state_machine_arn
        ):
            found.extend(
                e for e in page["executions"] if e["name"].startswith(f"{investigation_id}-g")
            )
        return sorted(found, key=lambda e: e["name"])

    def _running(self, inv: Investigation) -> bool:
        """Whether an execution of the investigation is still running (its latest two
        generations: the one recorded and one it may have just started)."""
        sfn = aws.client("stepfunctions")
        prefix = self.state_machine_arn.replace(":stateMachine:", ":execution:")
        for generation in (inv.generation, inv.generation + 1):
            arn = f"{prefix}:{execution_name(inv.investigation_id, generation)}"
            try:
                if sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
                    return True
            except sfn.exceptions.ExecutionDoesNotExist:
                continue
        return False

    def summary(self, investigation_id: str, duration_s: float = 0.0) -> RunSummary:
        st = stores()
        inv = st.investigations.get(investigation_id)
        events = list(st.events.read(investigation_id))
        sfn = aws.client("stepfunctions")
        stats = [execution_stats(sfn, e["executionArn"]) for e in self.executions(investigation_id)]
        return RunSummary(
            investigation=inv,
            events=len(events),
            tool_calls=sum(1 for e in events if e.event.type == "tool_result"),
            executions=len(stats),
            state_transitions=sum(s.state_transitions for s in stats),
            history_events=sum(s.history_events for s in stats),
            max_state_payload_bytes=max((s.max_payload_bytes for s in stats), default=0),
            duration_s=duration_s,
        )
