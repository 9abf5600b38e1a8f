"""``get_metric_statistics``: a CloudWatch metric around the signal (an alarm's own metric by
default), with a one-line summary of when it rose above its baseline."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from fixloop.errors import ToolFailed
from fixloop.tools.registry import Tool, ToolContext, cap_output
from fixloop.tools.telemetry.common import (
    MAX_PAGES,
    MAX_WINDOW_MINUTES,
    alarm_metrics,
    call_aws,
    ceil_period,
    floor_period,
    iso,
    num,
    relative,
    utc,
    window,
)

if TYPE_CHECKING:
    from fixloop.domain import Signal

__all__ = [
    "GET_METRIC_STATISTICS",
    "MAX_DATAPOINTS",
    "MAX_METRIC_SERIES",
    "MetricStatisticsInput",
    "get_metric_statistics",
]

MAX_METRIC_SERIES = 10
MAX_DATAPOINTS = 1_440


class MetricStatisticsInput(BaseModel):
    namespace: str | None = Field(
        default=None,
        description='e.g. "AWS/Lambda". Give it with metric_name; both default to the '
        "alarm's own metric when the signal is an alarm.",
    )
    metric_name: str | None = Field(default=None, description='e.g. "Errors".')
    dimensions: dict[str, str] = Field(
        default_factory=dict,
        description='Dimension name to value, e.g. {"FunctionName": "orders"}. Default: '
        "none (or the alarm's).",
    )
    stat: str = Field(
        default="Sum",
        min_length=1,
        description="Sum, Average, Minimum, Maximum, SampleCount, or a percentile like p99 "
        "(default Sum, or the alarm's).",
    )
    period_s: int = Field(
        default=60,
        ge=1,
        le=86_400,
        description="Seconds per datapoint: 1, 5, 10, 30 or a multiple of 60 (default 60, "
        "or the alarm's).",
    )
    minutes_before: int = Field(
        default=60, ge=0, le=MAX_WINDOW_MINUTES, description="Minutes before the signal."
    )
    minutes_after: int = Field(
        default=15, ge=0, le=MAX_WINDOW_MINUTES, description="Minutes after the signal."
    )


@dataclass(frozen=True)
class _Series:
    namespace: str
    name: str
    dimensions: dict[str, str]
    stat: str
    period_s: int

    def label(self) -> str:
        dims = ", ".join(f"{k}={v}" for k, v in sorted(self.dimensions.items()))
        return f"{self.namespace} {self.name}" + (f" {{{dims}}}" if dims else "")


def get_metric_statistics(ctx: ToolContext, args: MetricStatisticsInput) -> str:
    series = _metric_series(ctx.signal, args)
    start, end, at = window(ctx.signal, args.minutes_before, args.minutes_after)
    queries: list[dict[str, Any]] = []
    for i, s in enumerate(series):
        _check_period(s.period_s)
        # GetMetricData aligns periods; whole periods on both ends keep the datapoints whole.
        s_start, s_end = floor_period(start, s.period_s), ceil_period(end, s.period_s)
        count = int((s_end - s_start).total_seconds()) // s.period_s
        if count > MAX_DATAPOINTS:
            raise ToolFailed(
                f"{count} periods of {s.period_s} s in the window: use a larger period_s or a "
                f"shorter window (at most {MAX_DATAPOINTS} datapoints)"
            )
        start, end = min(start, s_start), max(end, s_end)
        metric = {
            "Namespace": s.namespace,
            "MetricName": s.name,
            "Dimensions": [{"Name": k, "Value": v} for k, v in s.dimensions.items()],
        }
        queries.append(
            {
                "Id": f"m{i}",
                "MetricStat": {"Metric": metric, "Period": s.period_s, "Stat": s.stat},
                "ReturnData": True,
            }
        )
    points: dict[str, list[tuple[datetime, float]]] = {q["Id"]: [] for q in queries}
    messages: list[str] = []
    params: dict[str, Any] = {
        "MetricDataQueries": queries,
        "StartTime": start,
        "EndTime": end,
        "ScanBy": "TimestampAscending",
    }
    for _ in range(MAX_PAGES):
        page = call_aws("cloudwatch", "get_metric_data", **params)
        for res in page.get("MetricDataResults", []):
            pairs = zip(res.get("Timestamps", []), res.get("Values", []), strict=False)
            points.setdefault(str(res["Id"]), []).extend((utc(t), float(v)) for t, v in pairs)
            messages += [m.get("Value", "") for m in res.get("Messages", []) if m.get("Value")]
        messages += [m.get("Value", "") for m in page.get("Messages", []) if m.get("Value")]
        if not page.get("NextToken"):
            break
        params["NextToken"] = page["NextToken"]
    blocks = []
    for query, s in zip(queries, series, strict=True):
        data = sorted(points[query["Id"]])
        blocks.append(_metric_block(s, data, start, end, at))
    if messages:
        blocks.append("CloudWatch said: " + "; ".join(dict.fromkeys(messages)))
    return cap_output("\n\n".join(blocks), ctx.max_output_chars)


def _metric_series(signal: Signal, args: MetricStatisticsInput) -> list[_Series]:
    given = args.model_fields_set
    if args.namespace or args.metric_name:
        if not (args.namespace and args.metric_name):
            raise ToolFailed("give both namespace and metric_name (or neither, for an alarm)")
        return [
            _Series(args.namespace, args.metric_name, args.dimensions, args.stat, args.period_s)
        ]
    if signal.kind != "alarm":
        raise ToolFailed(
            "give namespace and metric_name: only an alarm signal has a default metric"
        )
    series = []
    for item in alarm_metrics(signal):
        stat = item.get("metricStat") or {}
        metric = stat.get("metric") or {}
        if not metric.get("namespace") or not metric.get("name"):
            continue
        dims = metric.get("dimensions") or {}
        if isinstance(dims, list):  # [{"name": ..., "value": ...}], as GetMetricData writes it
            dims = {str(d.get("name", d.get("Name"))): d.get("value", d.get("Value")) for d in dims}
        series.append(
            _Series(
                namespace=str(metric["namespace"]),
                name=str(metric["name"]),
                dimensions=args.dimensions
                if "dimensions" in given
                else {str(k): str(v) for k, v in dims.items()},
                stat=args.stat if "stat" in given else str(stat.get("stat") or args.stat),
                period_s=args.period_s
                if "period_s" in given
                else int(stat.get("period") or args.period_s),
            )
        )
    if not series:
        expressions = [str(m["expression"]) for m in alarm_metrics(signal) if m.get("expression")]
        what = f" (it uses the expression {expressions[0]!r})" if expressions else ""
        raise ToolFailed(
            f"the alarm {signal.source!r} has no plain metric{what}: give namespace and metric_name"
        )
    return series[:MAX_METRIC_SERIES]


def _check_period(period_s: int) -> None:
    if period_s not in (1, 5, 10, 30) and period_s % 60:
        raise ToolFailed(f"period_s must be 1, 5, 10, 30 or a multiple of 60, not {period_s}")


def _metric_block(
    s: _Series, data: list[tuple[datetime, float]], start: datetime, end: datetime, at: datetime
) -> str:
    head = (
        f"{s.label()} {s.stat} per {s.period_s} s, {iso(start)} to {iso(end)} (signal at {iso(at)})"
    )
    if not data:
        return (
            f"{head}\nno datapoints: the metric has no data in the window, or does not exist "
            "with exactly these dimensions (dimensions must all match)"
        )
    rows = "\n".join(f"{iso(t)}  {num(v)}" for t, v in data)
    return (
        f"{head}\nsummary: {_rise(data, at)}\n"
        f"timestamp (period start)  value; periods without data are not listed\n{rows}"
    )


def _rise(data: list[tuple[datetime, float]], at: datetime) -> str:
    """The maximum, and when the values last rose above the baseline before reaching it."""
    peak_i = max(range(len(data)), key=lambda i: (data[i][1], -i))
    peak_t, peak = data[peak_i]
    before = [v for t, v in data if t < at]
    if before:
        baseline = statistics.median(before)
        what = f"the median of the {len(before)} datapoints before the signal"
        spread = statistics.median(abs(v - baseline) for v in before)
    else:
        baseline, what, spread = min(v for _, v in data), "the lowest value", 0.0
    text = f"max {num(peak)} at {iso(peak_t)} ({relative(peak_t, at)})"
    if peak <= baseline:
        return f"{text}; never above the baseline {num(baseline)} ({what})"
    threshold = min(baseline + 3 * spread, baseline + (peak - baseline) / 2)
    first = peak_i
    while first > 0 and data[first - 1][1] > threshold:
        first -= 1
    rose_t = data[first][0]
    return (
        f"{text}; baseline {num(baseline)} ({what}); above it from {iso(rose_t)} "
        f"({relative(rose_t, at)}) up to the max"
    )


GET_METRIC_STATISTICS = Tool(
    "get_metric_statistics",
    "Read a CloudWatch metric around the signal's time (for an alarm, its own metric by "
    "default): the datapoints, the maximum and when the values rose above the baseline. Use "
    "it to date the start of a problem and see whether it is still going on; not for what "
    "failed (query_logs, get_trace).",
    MetricStatisticsInput,
    get_metric_statistics,
)
