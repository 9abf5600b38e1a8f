"""Telemetry tools: what production recorded around the signal, read through boto3.

They run in the Run Tool Lambda (``runs_in="lambda"``) and only read:

* ``query_logs``: a CloudWatch Logs Insights query over a window around the signal;
* ``get_metric_statistics``: a CloudWatch metric around the signal (an alarm's own metric by
  default), with a one-line summary of when it rose;
* ``get_trace_summaries`` and ``get_trace``: X-Ray traces, errors and faults first;
* ``recent_deployments``: changes to the signal's Lambda function (versions, last
  modification, the commit it carries) shortly before the errors started.

Windows are relative to ``signal.occurred_at`` and every time shown is UTC ISO 8601. Failures
the model can act on (a missing log group, a malformed query, a query that runs too long) are
:class:`ToolFailed`; AWS throttling is a :class:`TransientError`, which the state machine
retries with backoff; anything else (5xx, connection errors) propagates as an infrastructure
error.
"""

from __future__ import annotations

from fixloop.tools.registry import Tool
from fixloop.tools.telemetry.common import (
    LAMBDA_LOG_GROUP,
    MAX_PAGES,
    MAX_WINDOW_MINUTES,
    THROTTLING_CODES,
)
from fixloop.tools.telemetry.deployments import (
    COMMIT_ENV_VARS,
    COMMIT_TAGS,
    MAX_VERSIONS,
    RECENT_DEPLOYMENTS,
    RecentDeploymentsInput,
    recent_deployments,
)
from fixloop.tools.telemetry.logs import (
    MAX_CELL_CHARS,
    QUERY_LOGS,
    QUERY_POLL,
    PollPolicy,
    QueryLogsInput,
    query_logs,
)
from fixloop.tools.telemetry.metrics import (
    GET_METRIC_STATISTICS,
    MAX_DATAPOINTS,
    MAX_METRIC_SERIES,
    MetricStatisticsInput,
    get_metric_statistics,
)
from fixloop.tools.telemetry.xray import (
    GET_TRACE,
    GET_TRACE_SUMMARIES,
    MAX_TRACE_DEPTH,
    MAX_TRACE_SUMMARIES,
    GetTraceInput,
    TraceSummariesInput,
    get_trace,
    get_trace_summaries,
)

__all__ = [
    "COMMIT_ENV_VARS",
    "COMMIT_TAGS",
    "LAMBDA_LOG_GROUP",
    "MAX_CELL_CHARS",
    "MAX_DATAPOINTS",
    "MAX_METRIC_SERIES",
    "MAX_PAGES",
    "MAX_TRACE_DEPTH",
    "MAX_TRACE_SUMMARIES",
    "MAX_VERSIONS",
    "MAX_WINDOW_MINUTES",
    "QUERY_POLL",
    "TELEMETRY_TOOLS",
    "THROTTLING_CODES",
    "GetTraceInput",
    "MetricStatisticsInput",
    "PollPolicy",
    "QueryLogsInput",
    "RecentDeploymentsInput",
    "TraceSummariesInput",
    "get_metric_statistics",
    "get_trace",
    "get_trace_summaries",
    "query_logs",
    "recent_deployments",
]

TELEMETRY_TOOLS: list[Tool] = [
    QUERY_LOGS,
    GET_METRIC_STATISTICS,
    GET_TRACE_SUMMARIES,
    GET_TRACE,
    RECENT_DEPLOYMENTS,
]
