"""Where asynchronous work that failed goes, instead of being dropped.

A function invoked asynchronously (by EventBridge, CloudWatch Logs, or itself with
``InvocationType=Event``) returns nothing to its caller: Lambda retries a failed event, then
discards it unless the function has an on-failure destination. A DynamoDB stream's event
source mapping likewise skips a batch once its retries are spent. Each such path sends what it
gave up on to an SQS queue of its own, kept 14 days, where a person can read and replay it;
fixloop alarms on each queue's depth (stacks/constructs/observability.py).

The queues are encrypted with the stack's data key: Lambda sends to an on-failure destination
(and to an event source mapping's) with the function's own execution role, which CDK's grant
lets use the key. A queue that a service sends to with its own principal (an EventBridge
rule's dead-letter queue) stays SQS-managed instead: the key policy would have to let that
service use the key (stacks/constructs/triggers.py, reconcile.py).
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.nag import acknowledge

__all__ = [
    "ASYNC_MAX_EVENT_AGE",
    "ASYNC_RETRY_ATTEMPTS",
    "FAILURE_RETENTION",
    "failure_queue",
    "rule_to_function",
    "send_async_failures",
]

ASYNC_RETRY_ATTEMPTS = 2
"""Lambda's retries of a failed asynchronous event (its maximum, stated rather than implied).
The handlers are idempotent: a signal is deduplicated by its fingerprint, a Slack event by its
``event_id``, a reconciliation closes an investigation once."""
ASYNC_MAX_EVENT_AGE = cdk.Duration.hours(1)
"""How long Lambda keeps an asynchronous event it could not run yet (throttled) before it
gives up on it and sends it to the failure queue."""
FAILURE_RETENTION = cdk.Duration.days(14)
"""SQS's maximum: time for someone to notice the alarm and replay what failed."""


def failure_queue(scope: Construct, construct_id: str, *, key: kms.IKey | None) -> sqs.Queue:
    """An SSL-only queue for failed events, encrypted with ``key`` (SQS-managed without one)."""
    queue = sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.KMS if key is not None else sqs.QueueEncryption.SQS_MANAGED,
        encryption_master_key=key,
        enforce_ssl=True,
        retention_period=FAILURE_RETENTION,
    )
    acknowledge(
        queue,
        "AwsSolutions-SQS3",
        "This queue is itself where failures end (a Lambda on-failure destination or an "
        "EventBridge dead-letter queue), which cdk-nag does not recognise as it does an SQS "
        "redrive policy; its depth is alarmed.",
    )
    return queue


def send_async_failures(fn: lambda_.Function, queue: sqs.IQueue) -> None:
    """Retry ``fn``'s failed asynchronous events as stated above, then send each to
    ``queue`` (the invocation record: the event, the error, the attempts)."""
    fn.configure_async_invoke(
        on_failure=destinations.SqsDestination(queue),
        retry_attempts=ASYNC_RETRY_ATTEMPTS,
        max_event_age=ASYNC_MAX_EVENT_AGE,
    )


def rule_to_function(
    scope: Construct,
    construct_id: str,
    *,
    description: str,
    pattern: dict[str, Any],
    function: lambda_.IFunction,
    dead_letters: sqs.IQueue,
    max_event_age: cdk.Duration,
    retry_attempts: int,
) -> events.Rule:
    """An EventBridge rule that sends the events ``pattern`` matches (written as AWS sends
    them: ``source``, ``detail-type``, ``detail``) to ``function``; what EventBridge cannot
    deliver within ``max_event_age`` and ``retry_attempts`` goes to ``dead_letters``."""
    return events.Rule(
        scope,
        construct_id,
        description=description,
        event_pattern=events.EventPattern(
            source=pattern["source"],
            detail_type=pattern["detail-type"],
            detail=pattern["detail"],
        ),
        targets=[
            targets.LambdaFunction(
                function,
                dead_letter_queue=dead_letters,
                max_event_age=max_event_age,
                retry_attempts=retry_attempts,
            )
        ],
    )
