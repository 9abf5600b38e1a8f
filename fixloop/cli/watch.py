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
from fixloop.cli.execution_stats import ExecutionStats, execution_stats
from fixloop.config import STATE_MACHINE_NAME, get_settings
from fixloop.cost import (
    AwsFigures,
    Cost,
    investigation_cost,
    investigation_usage,
    model_id_of,
)
from fixloop.domain import EVENT_ADAPTER, Investigation, Verification, execution_name
from fixloop.domain.investigation import TERMINAL_STATUSES
from fixloop.errors import ConfigError, FixloopError
from fixloop.store import StoredEvent, stores
from fixloop.store.sandboxes import SandboxRecord


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
    cost: Cost | None = None
    compaction_summaries: int = 0
    verification: dict[str, Any] | None = None
    """The latest verification of a proposed fix (:meth:`VerificationReport.summary`)."""

    def as_json(self) -> dict[str, Any]:
        inv = self.investigation
        usage = investigation_usage(inv)
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
            "tokens": {
                "input": usage.input_tokens,
                "output": usage.output_tokens,
                "cache_write": usage.cache_creation_input_tokens,
                "cache_write_1h": usage.cache_creation_1h_input_tokens,
                "cache_read": usage.cache_read_input_tokens,
            },
            "compactions": inv.compactions,
            "compaction_summaries": self.compaction_summaries,
            "cost_usd": self.cost.as_json() if self.cost is not None else None,
            "verification": self.verification,
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
        figures = aws_figures(inv, events, stats, st.sandboxes.get(investigation_id))
        return RunSummary(
            investigation=inv,
            events=len(events),
            tool_calls=sum(1 for e in events if e.event.type == "tool_result"),
            executions=len(stats),
            state_transitions=figures.state_transitions,
            history_events=sum(s.history_events for s in stats),
            max_state_payload_bytes=max((s.max_payload_bytes for s in stats), default=0),
            duration_s=duration_s,
            cost=investigation_cost(model_id_of(inv.model), investigation_usage(inv), figures),
            compaction_summaries=sum(1 for e in events if e.event.type == "compaction_summary"),
            verification=latest_verification(events),
        )


def latest_verification(events: list[StoredEvent]) -> dict[str, Any] | None:
    """The summary of the last verification in the log, if any."""
    found = [e.event for e in events if isinstance(e.event, Verification)]
    return found[-1].report.summary() if found else None


RECORD_WRITES_PER_TURN = 2
"""Investigation record updates per turn: Prepare's progress, Model Turn's usage."""


def aws_figures(
    inv: Investigation,
    events: list[StoredEvent],
    stats: list[ExecutionStats],
    sandbox: SandboxRecord | None,
) -> AwsFigures:
    """The counted figures the AWS part of the cost is priced from.

    DynamoDB write units: one per KB of each log event (its stored JSON), the record's own
    writes (create, close, and :data:`RECORD_WRITES_PER_TURN` a turn), and the sandbox
    record's (claim, ready, stop, and a heartbeat every third of the heartbeat interval).
    """
    lambda_ms: dict[str, int] = {}
    lambda_requests: dict[str, int] = {}
    for s in stats:
        for name, ms in s.lambda_ms.items():
            lambda_ms[name] = lambda_ms.get(name, 0) + ms
        for name, count in s.lambda_requests.items():
            lambda_requests[name] = lambda_requests.get(name, 0) + count
    sandbox_seconds = 0.0
    if sandbox is not None:
        sandbox_seconds = max(0.0, (sandbox.heartbeat_at - sandbox.started_at).total_seconds())
    beat = max(1.0, get_settings().sandbox_heartbeat_seconds / 3)
    units = sum(-(-(len(EVENT_ADAPTER.dump_json(e.event)) + 100) // 1024) for e in events)
    units += 2 + RECORD_WRITES_PER_TURN * inv.turns
    if sandbox is not None:
        units += 3 + int(sandbox_seconds / beat)
    return AwsFigures(
        state_transitions=sum(s.state_transitions for s in stats),
        lambda_ms=lambda_ms,
        lambda_requests=lambda_requests,
        sandbox_seconds=sandbox_seconds,
        dynamodb_write_units=units,
        websocket_messages=inv.websocket_messages,
    )
