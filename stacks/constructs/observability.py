"""fixloop watching itself: CloudWatch alarms on its own health and a dashboard.

Alarms (all named ``fixloop-...``, which the alarm rule of triggers.py leaves out, so fixloop
never opens an investigation about itself) notify the SNS topic ``fixloop-alarms``:

- investigation executions that failed or timed out (the state machine's own metrics);
- Lambda errors and throttles of any fixloop function (summed over groups of at most ten
  functions, the most an alarm's metric math may read: ``lambda-errors-1``, ``-2``, ...);
- model errors and throttles (fixloop's EMF metrics, fixloop/metrics.py);
- alarms undelivered to ``signal_trigger`` (messages in its dead-letter queue), and any message
  in the other queues where failed asynchronous work waits (``failure_queues``: the
  on-failure destinations of the functions invoked asynchronously and of the stream fan-out,
  the reconcile rule's dead-letter queue; stacks/constructs/failures.py);
- optionally, tokens per day above a budget (``fixloop:daily_token_budget``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from fixloop import metrics as names
from stacks.constructs.triggers import OWN_ALARM_PREFIX

__all__ = [
    "ALARM_TOPIC_NAME",
    "DASHBOARD_NAME",
    "Observability",
    "fixloop_metric",
    "own_alarms_arn",
]

ALARM_TOPIC_NAME = "fixloop-alarms"
DASHBOARD_NAME = "fixloop"
_FIVE_MINUTES = cdk.Duration.minutes(5)
MAX_ALARM_METRICS = 10
"""CloudWatch: "Alarms on math expressions cannot contain more than 10 individual metrics"."""


def _groups(items: list[lambda_.IFunction], size: int) -> list[list[lambda_.IFunction]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def own_alarms_arn(stack: cdk.Stack) -> str:
    """The ARNs of fixloop's own alarms in ``stack``'s account and region (a pattern)."""
    return stack.format_arn(
        service="cloudwatch",
        resource="alarm",
        resource_name=f"{OWN_ALARM_PREFIX}*",
        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
    )


def fixloop_metric(
    name: str, *, period: cdk.Duration = _FIVE_MINUTES, label: str | None = None
) -> cloudwatch.Metric:
    """One of fixloop's EMF metrics, summed (they are all counters)."""
    return cloudwatch.Metric(
        namespace=names.NAMESPACE,
        metric_name=name,
        dimensions_map={"service": names.SERVICE},
        statistic=cloudwatch.Stats.SUM,
        period=period,
        label=label,
    )


class Observability(Construct):
    """The alarm topic, the alarms and the dashboard ``fixloop``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        state_machine: sfn.IStateMachine,
        functions: Mapping[str, lambda_.IFunction],
        dead_letters: sqs.IQueue,
        failure_queues: Mapping[str, sqs.IQueue] | None = None,
        alarm_email: str = "",
        daily_token_budget: int = 0,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(
            self,
            "AlarmTopic",
            topic_name=ALARM_TOPIC_NAME,
            display_name="fixloop alarms",
            master_key=key,
            enforce_ssl=True,
        )
        self._allow_alarms_to_publish(key)
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))

        # An alarm's metric math may read at most 10 metrics, so the functions are summed in
        # groups of 10: one errors and one throttles alarm per group ("-1", "-2", ...).
        groups = _groups(list(functions.values()), MAX_ALARM_METRICS)
        lambda_errors = [
            self._sum(f"LambdaErrors{i}", [fn.metric_errors(period=_FIVE_MINUTES) for fn in group])
            for i, group in enumerate(groups, 1)
        ]
        lambda_throttles = [
            self._sum(
                f"LambdaThrottles{i}", [fn.metric_throttles(period=_FIVE_MINUTES) for fn in group]
            )
            for i, group in enumerate(groups, 1)
        ]
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        self._alarm(
            "executions-failed",
            state_machine.metric_failed(period=_FIVE_MINUTES),
            threshold=1,
            description="Investigation executions failed (see the Mark Failed reason).",
        )
        self._alarm(
            "executions-timed-out",
            state_machine.metric_timed_out(period=_FIVE_MINUTES),
            threshold=1,
            description="Investigation executions timed out.",
        )
        for i, (errors, throttles) in enumerate(
            zip(lambda_errors, lambda_throttles, strict=True), 1
        ):
            self._alarm(
                f"lambda-errors-{i}",
                errors,
                threshold=5,
                description=f"fixloop functions (group {i}) failed 5 or more times in 5 minutes.",
            )
            self._alarm(
                f"lambda-throttles-{i}",
                throttles,
                threshold=1,
                description=f"fixloop functions (group {i}) were throttled (account concurrency).",
            )
        self._alarm(
            "model-errors",
            fixloop_metric(names.MODEL_ERRORS),
            threshold=3,
            description="Model calls failed 3 or more times in 5 minutes (provider errors).",
        )
        self._alarm(
            "model-throttles",
            fixloop_metric(names.MODEL_THROTTLES, period=cdk.Duration.minutes(15)),
            threshold=10,
            description="The model provider throttled 10 or more calls in 15 minutes.",
        )
        self._alarm(
            "undelivered-alarms",
            dead_letters.metric_approximate_number_of_messages_visible(
                period=_FIVE_MINUTES, statistic=cloudwatch.Stats.MAXIMUM
            ),
            threshold=1,
            description="Alarms could not be delivered to signal_trigger: replay the DLQ.",
        )
        for name, queue in (failure_queues or {}).items():
            self._alarm(
                name,
                queue.metric_approximate_number_of_messages_visible(
                    period=_FIVE_MINUTES, statistic=cloudwatch.Stats.MAXIMUM
                ),
                threshold=1,
                description=f"Work that failed after its retries waits in a queue ({name}): "
                "read it, fix the cause, replay it.",
            )
        tokens = self._sum(
            "Tokens",
            [
                fixloop_metric(names.INPUT_TOKENS, period=cdk.Duration.days(1)),
                fixloop_metric(names.OUTPUT_TOKENS, period=cdk.Duration.days(1)),
            ],
            period=cdk.Duration.days(1),
        )
        if daily_token_budget > 0:
            self._alarm(
                "token-budget",
                tokens,
                threshold=daily_token_budget,
                description=f"More than {daily_token_budget} model tokens in a day.",
            )

        self.dashboard = cloudwatch.Dashboard(
            self, "Dashboard", dashboard_name=DASHBOARD_NAME, default_interval=cdk.Duration.days(1)
        )
        self.dashboard.add_widgets(
            self._graph(
                "Investigations",
                [
                    fixloop_metric(names.INVESTIGATIONS_STARTED, label="started"),
                    fixloop_metric(names.INVESTIGATIONS_CONCLUDED, label="concluded"),
                    fixloop_metric(names.INVESTIGATIONS_FAILED, label="failed"),
                ],
            ),
            self._graph(
                "Executions",
                [
                    state_machine.metric_started(period=_FIVE_MINUTES, label="started"),
                    state_machine.metric_succeeded(period=_FIVE_MINUTES, label="succeeded"),
                    state_machine.metric_failed(period=_FIVE_MINUTES, label="failed"),
                    state_machine.metric_timed_out(period=_FIVE_MINUTES, label="timed out"),
                ],
            ),
            self._graph(
                "Model",
                [
                    fixloop_metric(names.MODEL_TURNS, label="turns"),
                    fixloop_metric(names.MODEL_ERRORS, label="errors"),
                    fixloop_metric(names.MODEL_THROTTLES, label="throttles"),
                ],
            ),
        )
        self.dashboard.add_widgets(
            self._graph(
                "Tokens (cost)",
                [
                    fixloop_metric(names.INPUT_TOKENS, label="input"),
                    fixloop_metric(names.OUTPUT_TOKENS, label="output"),
                ],
            ),
            self._graph(
                "Tools",
                [
                    fixloop_metric(names.TOOL_CALLS, label="calls"),
                    fixloop_metric(names.TOOL_FAILURES, label="failures"),
                ],
            ),
            self._graph("Lambda", [*lambda_errors, *lambda_throttles]),
        )
        self.dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(
                title="fixloop alarms", alarms=list(self.alarms.values()), width=24
            )
        )

    def _allow_alarms_to_publish(self, key: kms.IKey) -> None:
        """Let CloudWatch alarms of this account and region named ``fixloop-*`` publish to the
        encrypted topic.

        ``enforce_ssl`` gives the topic a policy of its own, holding only its Deny: that
        replaces SNS's default policy (which let the account's principals publish), and
        CloudWatch's publish fails with "no resource-based policy allows the SNS:Publish
        action". The topic policy allows ``cloudwatch.amazonaws.com``, and the key policy lets
        it encrypt the message (kms:GenerateDataKey*, kms:Decrypt: the statement SNS
        documents for AWS services publishing to a topic encrypted with a customer-managed
        key), both held to this account's fixloop alarms with ``aws:SourceAccount`` and
        ``aws:SourceArn`` (confused-deputy prevention).
        """
        stack = cdk.Stack.of(self)
        from_own_alarms = {
            "StringEquals": {"aws:SourceAccount": stack.account},
            "ArnLike": {"aws:SourceArn": own_alarms_arn(stack)},
        }
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions=from_own_alarms,
            )
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsToTheTopic",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy, "*" is this key
                conditions=from_own_alarms,
            )
        )

    def _alarm(
        self, name: str, metric: cloudwatch.IMetric, *, threshold: float, description: str
    ) -> None:
        alarm = cloudwatch.Alarm(
            self,
            "".join(part.title() for part in name.split("-")),
            alarm_name=f"{OWN_ALARM_PREFIX}{name}",
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(cw_actions.SnsAction(self.topic))
        self.alarms[name] = alarm

    @staticmethod
    def _sum(
        label: str, metrics: Sequence[cloudwatch.IMetric], period: cdk.Duration = _FIVE_MINUTES
    ) -> cloudwatch.MathExpression:
        """The sum of ``metrics`` as one series (missing points count as 0)."""
        # Metric ids are unique per graph: prefix them with the label.
        prefix = "".join(c for c in label.lower() if c.isalnum())
        using = {f"{prefix}{i}": m for i, m in enumerate(metrics)}
        return cloudwatch.MathExpression(
            expression=f"SUM([{','.join(f'FILL({k}, 0)' for k in using)}])",
            using_metrics=using,
            label=label,
            period=period,
        )

    @staticmethod
    def _graph(title: str, metrics: list[cloudwatch.IMetric]) -> cloudwatch.GraphWidget:
        return cloudwatch.GraphWidget(title=title, left=metrics, width=8, height=6)
