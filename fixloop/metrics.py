"""fixloop's own CloudWatch metrics, written as Embedded Metric Format by Powertools.

Every metric is in namespace ``fixloop`` with the dimension ``service=fixloop``; the stack's
alarms and dashboard (stacks/constructs/observability.py) read the same names. Metrics are
buffered during an invocation and printed as one EMF line at its end by
:func:`emits_metrics`, which wraps a handler; CloudWatch turns the line into metrics, so
emitting costs no API call. ``POWERTOOLS_METRICS_DISABLED=true`` (the embedded runtime sets
it) drops them instead.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec, TypeVar

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

__all__ = [
    "INPUT_TOKENS",
    "INVESTIGATIONS_CONCLUDED",
    "INVESTIGATIONS_FAILED",
    "INVESTIGATIONS_STARTED",
    "METRIC_NAMES",
    "MODEL_ERRORS",
    "MODEL_THROTTLES",
    "MODEL_TURNS",
    "NAMESPACE",
    "OUTPUT_TOKENS",
    "SERVICE",
    "TOOL_CALLS",
    "TOOL_FAILURES",
    "count",
    "emits_metrics",
    "metrics",
    "record_usage",
]

NAMESPACE = "fixloop"
SERVICE = "fixloop"
"""The ``service`` dimension of every metric, whatever the function's Powertools service."""
INVESTIGATIONS_STARTED = "InvestigationsStarted"
INVESTIGATIONS_CONCLUDED = "InvestigationsConcluded"
"""Investigations that reached Deliver: a pull request, a summary, or a blocked delivery."""
INVESTIGATIONS_FAILED = "InvestigationsFailed"
MODEL_TURNS = "ModelTurns"
MODEL_ERRORS = "ModelErrors"
"""Model calls that failed for any reason but throttling (Lambda retries them per the ASL)."""
MODEL_THROTTLES = "ModelThrottles"
INPUT_TOKENS = "InputTokens"
"""Prompt tokens of model calls, cache reads and writes included."""
OUTPUT_TOKENS = "OutputTokens"
TOOL_CALLS = "ToolCalls"
TOOL_FAILURES = "ToolFailures"
"""Tool calls whose result is an error the model sees (not Lambda failures)."""
METRIC_NAMES = (
    INVESTIGATIONS_STARTED,
    INVESTIGATIONS_CONCLUDED,
    INVESTIGATIONS_FAILED,
    MODEL_TURNS,
    MODEL_ERRORS,
    MODEL_THROTTLES,
    INPUT_TOKENS,
    OUTPUT_TOKENS,
    TOOL_CALLS,
    TOOL_FAILURES,
)
_TOKEN_FIELDS = {
    INPUT_TOKENS: ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"),
    OUTPUT_TOKENS: ("output_tokens",),
}

metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
"""Powertools' metric buffer (shared by every ``Metrics`` instance of the process)."""

P = ParamSpec("P")
R = TypeVar("R")


def count(name: str, value: float = 1) -> None:
    """Add ``value`` to the counter ``name`` for this invocation."""
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def record_usage(usage: Mapping[str, Any]) -> None:
    """Count one model turn and its tokens, from the API's ``usage`` object."""
    count(MODEL_TURNS)
    for name, fields in _TOKEN_FIELDS.items():
        tokens = sum(int(usage.get(f) or 0) for f in fields)
        count(name, tokens)


def emits_metrics(handler: Callable[P, R]) -> Callable[P, R]:
    """Print the invocation's metrics as one EMF line when ``handler`` returns or raises
    (nothing when none were added, unlike ``Metrics.log_metrics``, which warns)."""

    @functools.wraps(handler)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return handler(*args, **kwargs)
        finally:
            if metrics.metric_set:
                if is_metrics_disabled():
                    metrics.clear_metrics()
                else:
                    metrics.flush_metrics()

    return wrapper
