"""How alarms and error logs reach the signal trigger (``POST /signals``: see webhooks.py).

One function, ``signal_trigger``, takes both sources (fixloop/functions.py says why):

- alarms: an EventBridge rule on the default bus matches CloudWatch alarms going into ALARM
  (optionally only those whose name starts with one of ``alarm_prefixes``). EventBridge
  retries a failed delivery for up to an hour, then puts the event in an encrypted, SSL-only
  dead-letter queue, where it can be read and replayed by hand.
- error logs: CloudWatch Logs subscription filters of this account deliver error lines. The
  function lets ``logs.amazonaws.com`` invoke it for any log group of this account and
  region, so that the onboarding template (in the user's stack) only creates subscription
  filters with the function's ARN (output ``LogsTriggerArn``). Log groups named in
  ``watched_log_groups`` are subscribed here instead.

Both invoke the function asynchronously: what it fails on after Lambda's retries goes to its
on-failure queue (stacks/constructs/functions.py, failures.py), not away.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_logs_destinations as log_destinations
from constructs import Construct

from stacks.constructs.failures import failure_queue, rule_to_function

__all__ = [
    "ALARM_MAX_EVENT_AGE",
    "ALARM_RETRY_ATTEMPTS",
    "ERROR_FILTER_PATTERN",
    "OWN_ALARM_PREFIX",
    "Triggers",
    "alarm_event_pattern",
]

OWN_ALARM_PREFIX = "fixloop-"
"""Names of the alarms fixloop raises about itself (stacks/constructs/observability.py)."""
ALARM_MAX_EVENT_AGE = cdk.Duration.hours(1)
"""How long EventBridge keeps retrying an alarm event before it goes to the dead letters."""
ALARM_RETRY_ATTEMPTS = 3
ERROR_FILTER_PATTERN = "?ERROR ?Error ?Exception ?Traceback"
"""Lines with any of these terms: plain-text errors and the lines of Python stack traces."""


def alarm_event_pattern(alarm_prefixes: Sequence[str] = ()) -> dict[str, Any]:
    """The rule's event pattern, as EventBridge reads it: alarms going into ALARM, limited to
    names starting with one of ``alarm_prefixes`` when there are any, else every alarm but
    fixloop's own (``fixloop-...``, observability.py): fixloop does not investigate itself."""
    detail: dict[str, Any] = {"state": {"value": ["ALARM"]}}
    if alarm_prefixes:
        detail["alarmName"] = [{"prefix": prefix} for prefix in alarm_prefixes]
    else:
        detail["alarmName"] = [{"anything-but": {"prefix": OWN_ALARM_PREFIX}}]
    return {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "detail": detail,
    }


class Triggers(Construct):
    """The alarm rule (with its dead-letter queue), and the permission of CloudWatch Logs to
    invoke the signal trigger with the subscription filters of watched log groups."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        signal_trigger: lambda_.IFunction,
        alarm_prefixes: Sequence[str] = (),
        watched_log_groups: Sequence[str] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)

        # SQS-managed: EventBridge sends to it with its own principal (failures.py).
        self.alarm_dead_letters = failure_queue(self, "AlarmDeadLetters", key=None)
        pattern = alarm_event_pattern(alarm_prefixes)
        self.alarm_rule = rule_to_function(
            self,
            "AlarmRule",
            description="fixloop: CloudWatch alarms going into ALARM -> signal_trigger",
            pattern=pattern,
            function=signal_trigger,
            dead_letters=self.alarm_dead_letters,
            max_event_age=ALARM_MAX_EVENT_AGE,
            retry_attempts=ALARM_RETRY_ATTEMPTS,
        )

        # Subscription filters in any log group of this account and region may deliver to
        # signal_trigger: the onboarding template creates them in the user's own stacks.
        self.log_groups_arn = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name="*",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        signal_trigger.add_permission(
            "LogsInvoke",
            principal=iam.ServicePrincipal("logs.amazonaws.com"),
            action="lambda:InvokeFunction",
            source_account=stack.account,
            source_arn=self.log_groups_arn,
        )
        permission = signal_trigger.node.find_child("LogsInvoke")

        self.subscriptions: list[logs.SubscriptionFilter] = []
        for name in watched_log_groups:
            # Named after the log group (CDK turns "/" into "--"), so that adding or removing
            # one leaves the others' subscriptions in place.
            watched = Construct(self, f"Watched{name}")
            subscription = logs.SubscriptionFilter(
                watched,
                "Errors",
                log_group=logs.LogGroup.from_log_group_name(watched, "LogGroup", name),
                # The account-wide permission above covers it: no permission per log group.
                destination=log_destinations.LambdaDestination(
                    signal_trigger, add_permissions=False
                ),
                filter_pattern=logs.FilterPattern.literal(ERROR_FILTER_PATTERN),
            )
            # CloudWatch Logs checks it may invoke the destination when the filter is created.
            subscription.node.add_dependency(permission)
            self.subscriptions.append(subscription)
