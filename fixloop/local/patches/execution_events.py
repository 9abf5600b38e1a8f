"""Gap 10 (Step Functions' part): moto sends no "Step Functions Execution Status Change" event.

AWS: Step Functions sends an event to the account's default EventBridge bus when a Standard
execution's status changes (best effort), ``source: aws.states``, ``detail-type: Step
Functions Execution Status Change``, ``resources: [execution ARN]``, and a ``detail`` that
describes the execution as DescribeExecution does: ``executionArn``, ``stateMachineArn``,
``name``, ``status``, ``startDate`` and ``stopDate`` (epoch milliseconds), ``input`` and
``inputDetails``, ``output`` and ``outputDetails`` (null unless it succeeded), ``error`` and
``cause``. (Step Functions developer guide, "Automating Step Functions event delivery with
EventBridge".) The CDK app's rule sends the ends (FAILED, TIMED_OUT, ABORTED) of the
investigation machine's executions to ``reconcile``.

moto's executions end silently (and its EventBridge invokes no Lambda target anyway, notes
gap 10). ``moto.stepfunctions.parser.backend.execution.BaseExecutionWorkerCommunication
.terminated`` (an execution's end, its status set) is wrapped to hand the event of the end
to the listener given to :func:`set_execution_listener`; the embedded runtime delivers it as
the rule does (:meth:`fixloop.local.runtime.EmbeddedRuntime`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fixloop.local.patches.internals import Replacement, require_class

__all__ = ["ExecutionListener", "replacements", "set_execution_listener", "status_change"]

LOG = logging.getLogger(__name__)
_EXECUTION = "moto.stepfunctions.parser.backend.execution"

ExecutionListener = Callable[[dict[str, Any]], None]
"""Receives the EventBridge event of an execution's status change."""


class _Listener:
    listener: ExecutionListener | None = None


_listener = _Listener()


def set_execution_listener(listener: ExecutionListener | None) -> ExecutionListener | None:
    """Send every execution's end to ``listener`` (None: to nobody); returns the one it
    replaces (process-wide: whoever borrows it puts it back)."""
    previous, _listener.listener = _listener.listener, listener
    return previous


def replacements() -> list[Replacement]:
    comm = require_class(_EXECUTION, "BaseExecutionWorkerCommunication", "terminated")
    require_class(_EXECUTION, "Execution", "to_describe_output")
    original = comm.terminated

    def terminated(self: Any) -> None:
        original(self)
        listener = _listener.listener
        if listener is None:
            return
        try:
            listener(status_change(self.execution))
        except Exception:  # an execution's end must not fail on its listener
            LOG.exception("execution status change listener failed")

    return [Replacement(comm, "terminated", terminated)]


def status_change(execution: Any) -> dict[str, Any]:
    """The EventBridge event of ``execution``'s current status (a moto ``Execution``)."""
    described = dict(execution.to_describe_output())
    arn = str(described["executionArn"])
    _, _, _, region, account, _ = arn.split(":", 5)
    detail: dict[str, Any] = {
        "executionArn": arn,
        "stateMachineArn": described["stateMachineArn"],
        "name": described["name"],
        "status": str(getattr(described["status"], "value", described["status"])),
        "startDate": _millis(described.get("startDate")),
        "stopDate": _millis(described.get("stopDate")),
        "input": described.get("input"),
        "inputDetails": described.get("inputDetails"),
        "output": described.get("output"),
        "outputDetails": described.get("outputDetails"),
        "error": described.get("error"),
        "cause": described.get("cause"),
    }
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": account,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [arn],
        "detail": detail,
    }


def _millis(value: Any) -> int | None:
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return None
