"""Executions that end without Mark Failed reach the ``reconcile`` function.

``States.Runtime`` and ``States.DataLimitExceeded`` are not caught by ``States.ALL``, an
execution can time out or be stopped: it then ends without Mark Failed, and its investigation
would stay ``running``. An EventBridge rule on the default bus matches the investigation state
machine's "Step Functions Execution Status Change" events with status FAILED, TIMED_OUT or
ABORTED and invokes ``reconcile`` (fixloop.agent.reconcile), which closes the investigation
if it is still open. EventBridge retries a failed delivery for an hour, then puts the event in
an SSL-only, SQS-managed dead-letter queue (EventBridge sends to it with its own principal,
which the data key's policy does not admit); ``reconcile``'s own failures go to its on-failure
queue (stacks/constructs/failures.py). Both are alarmed.

Step Functions delivers these events on a best-effort basis: the rule closes the gap left by
the Catch, it is not a guarantee.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from fixloop.domain.investigation import EXECUTION_END_STATUSES as END_STATUSES
from stacks.constructs.failures import failure_queue, rule_to_function

__all__ = [
    "EXECUTION_END_STATUSES",
    "EXECUTION_EVENT_MAX_AGE",
    "EXECUTION_EVENT_RETRIES",
    "Reconciliation",
    "execution_end_pattern",
]

EXECUTION_END_STATUSES = END_STATUSES
"""The statuses sent to ``reconcile`` (fixloop.domain.investigation, which the embedded runtime
reads too)."""
EXECUTION_EVENT_MAX_AGE = cdk.Duration.hours(1)
EXECUTION_EVENT_RETRIES = 3


def execution_end_pattern(state_machine_arn: str) -> dict[str, Any]:
    """The rule's event pattern: executions of the state machine ``state_machine_arn`` (the
    unqualified ARN, or a version's or alias's ARN, should an event name the one an execution
    was started through) that ended with one of :data:`EXECUTION_END_STATUSES`."""
    return {
        "source": ["aws.states"],
        "detail-type": ["Step Functions Execution Status Change"],
        "detail": {
            "status": list(EXECUTION_END_STATUSES),
            "stateMachineArn": [state_machine_arn, {"prefix": f"{state_machine_arn}:"}],
        },
    }


class Reconciliation(Construct):
    """The rule sending the ends of ``state_machine_arn``'s executions to ``reconcile``, and
    its dead-letter queue (:attr:`dead_letters`)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        reconcile: lambda_.IFunction,
        state_machine_arn: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letters = failure_queue(self, "DeadLetters", key=None)
        pattern = execution_end_pattern(state_machine_arn)
        self.rule = rule_to_function(
            self,
            "ExecutionEnded",
            description="fixloop: investigation executions that failed, timed out or were "
            "stopped -> reconcile",
            pattern=pattern,
            function=reconcile,
            dead_letters=self.dead_letters,
            max_event_age=EXECUTION_EVENT_MAX_AGE,
            retry_attempts=EXECUTION_EVENT_RETRIES,
        )
