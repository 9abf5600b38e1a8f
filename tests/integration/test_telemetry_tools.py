"""Telemetry tools against moto's server (the embedded runtime, through fixloop.aws's boto3
clients), and suspect_commits in a real workspace.

moto 5.2.5 completes a Logs Insights query at once and understands only ``fields``, ``sort``
and ``limit`` (``filter`` and ``stats`` are ignored; ``@timestamp`` comes back as epoch
milliseconds); it never answers MalformedQueryException, a running query or a throttle, and
has no StopQuery. Those answers are made at botocore's ``before-call``/``after-call`` hooks of
the very client the tools use, so the tools' error handling still runs on real ClientErrors.
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fixloop import aws
from fixloop.agent.toolset import default_registry
from fixloop.domain import Investigation, LogLine, Signal, ToolResult, parse_signal
from fixloop.errors import ToolFailed, TransientError
from fixloop.sandbox.tools import SandboxContext
from fixloop.sandbox.workspace import Workspace
from fixloop.tools import ToolContext, telemetry
from fixloop.triage import application_frames, parse_error
from tests.integration.scenario import log_of, run_scripted
from tests.runtime import LocalRuntime
from tests.support import alarm_event, commit_as, head, logs_message, make_repo, tool_use

NOW = datetime.now(UTC).replace(microsecond=0)
SIGNAL_AT = NOW - timedelta(minutes=5)


# -- helpers ------------------------------------------------------------------------------


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def _log_signal(group: str, lines: list[str] | None = None, at: datetime = SIGNAL_AT) -> Signal:
    return Signal(
        kind="log_errors",
        source=group,
        title=f"Errors in {group}",
        occurred_at=at,
        region="us-east-1",
        log_lines=[LogLine(timestamp=at, message=m) for m in lines or ["ERROR boom"]],
    )


def _alarm_signal(
    namespace: str = "AWS/ApiGateway",
    stat: str = "Sum",
    dimensions: dict[str, str] | None = None,
    at: datetime = SIGNAL_AT,
) -> Signal:
    """An alarm parsed from an EventBridge event, so details["metrics"] is what parsing
    writes."""
    event = alarm_event()
    event["detail"]["state"]["timestamp"] = at.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    stat_block = event["detail"]["configuration"]["metrics"][0]["metricStat"]
    stat_block["metric"]["namespace"] = namespace
    stat_block["stat"] = stat
    if dimensions is not None:
        stat_block["metric"]["dimensions"] = dimensions
    return parse_signal(event)


def _ctx(signal: Signal, limit: int = 20_000, ws: Workspace | None = None) -> ToolContext:
    inv = Investigation(
        investigation_id="inv-telemetry", title="t", repo="r", commit="c", model="scripted:x"
    )
    if ws is None:
        return ToolContext(investigation=inv, signal=signal, max_output_chars=limit)
    return SandboxContext(investigation=inv, signal=signal, max_output_chars=limit, workspace=ws)


def _run(name: str, ctx: ToolContext, **inp: object) -> str:
    """Run a tool as Run Tool does: from the default registry, input validated."""
    tool = default_registry().get(name)
    assert tool is not None and tool.run is not None
    return tool.run(ctx, tool.parse_input(inp))


class _Http:
    def __init__(self, status: int) -> None:
        self.status_code = status
        self.headers: dict[str, str] = {}
        self.content = b""
        self.raw = None


def _aws_error(status: int, code: str, message: str, **extra: Any) -> Callable[..., Any]:
    """A before-call handler answering an AWS error instead of sending the request."""

    def answer(**_: Any) -> tuple[_Http, dict[str, Any]]:
        parsed = {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status},
            **extra,
        }
        return _Http(status), parsed

    return answer


@contextmanager
def _hooked(
    service: str, event: str, operation: str, handler: Callable[..., Any]
) -> Iterator[None]:
    """Register ``handler`` on the tools' own client for ``{event}.<service>.<operation>``."""
    client = aws.client(service)
    name = f"{event}.{client.meta.service_model.service_id.hyphenize()}.{operation}"
    key = uuid.uuid4().hex
    client.meta.events.register(name, handler, unique_id=key)
    try:
        yield
    finally:
        client.meta.events.unregister(name, unique_id=key)


@dataclass
class FakeClock:
    """A monotonic clock that only sleeping moves."""

    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    policy = telemetry.PollPolicy(sleep=fake.sleep, clock=fake.clock)
    monkeypatch.setattr(telemetry.logs, "QUERY_POLL", policy)
    return fake


@pytest.fixture
def log_group(runtime: LocalRuntime) -> str:
    """A Lambda log group with a stack trace at the signal, and lines before and after it."""
    group = _unique("/aws/lambda/orders")
    logs = aws.client("logs")
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="2026/11/26/[$LATEST]abc")
    events = [
        (SIGNAL_AT - timedelta(hours=2), "START long before the window"),
        (SIGNAL_AT - timedelta(minutes=3), "INFO order 41 accepted"),
        (SIGNAL_AT, 'Traceback (most recent call last):\n  File "/var/task/app/handler.py"'),
        (SIGNAL_AT + timedelta(seconds=1), "ERROR KeyError: 'user'"),
        (SIGNAL_AT + timedelta(minutes=4), "INFO order 42 accepted"),
    ]
    logs.put_log_events(
        logGroupName=group,
        logStreamName="2026/11/26/[$LATEST]abc",
        logEvents=[{"timestamp": _ms(t), "message": m} for t, m in events],
    )
    return group


# -- query_logs ---------------------------------------------------------------------------


def test_query_logs_returns_the_window_around_the_signal_as_a_table(
    log_group: str, clock: FakeClock
) -> None:
    # Given a log signal from a group with lines inside and outside the default window
    ctx = _ctx(_log_signal(log_group))
    # When the model queries its log group (the default) for messages
    out = _run(
        "query_logs", ctx, query="fields @timestamp, @message | sort @timestamp asc | limit 20"
    )
    # Then the in-window lines come back in order as a table with UTC ISO times
    lines = out.splitlines()
    assert lines[0].startswith(f"Logs Insights on {log_group}, ")
    assert "4 rows" in lines[0]
    assert lines[1] == "@timestamp | @message"
    stamp = SIGNAL_AT.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert f"{stamp} | Traceback (most recent call last):\\n  File" in out
    assert lines[2].endswith("INFO order 41 accepted")
    assert lines[-1].endswith("INFO order 42 accepted")
    assert "long before the window" not in out
    assert "@ptr" not in out
    # And it polled once, after the first short wait
    assert clock.sleeps == [0.5]


def test_query_logs_on_a_narrow_window_and_limit(log_group: str, clock: FakeClock) -> None:
    # Given the same group
    ctx = _ctx(_log_signal(log_group))
    # When the window ends at the signal and at most one row is wanted
    out = _run(
        "query_logs",
        ctx,
        query="fields @timestamp, @message | sort @timestamp desc",
        minutes_before=5,
        minutes_after=0,
        limit=1,
    )
    # Then only the newest row of the window is shown, and the header says so
    assert "the first 1 follow" in out
    assert out.splitlines()[-1].endswith('File "/var/task/app/handler.py"')
    assert "order 42" not in out


def test_query_logs_without_results_says_how_to_widen(log_group: str, clock: FakeClock) -> None:
    # Given a signal a day later than anything in the group
    ctx = _ctx(_log_signal(log_group, at=SIGNAL_AT + timedelta(days=1)))
    # When the model queries around it
    out = _run("query_logs", ctx, query="fields @message")
    # Then it hears that nothing matched and what to change
    assert "0 rows" in out
    assert "widen minutes_before/minutes_after" in out


def test_query_logs_for_an_alarm_needs_a_log_group(runtime: LocalRuntime) -> None:
    # Given an alarm on a Lambda function's errors
    ctx = _ctx(_alarm_signal(namespace="AWS/Lambda", dimensions={"FunctionName": "orders"}))
    # When the model queries without naming a log group
    # Then it is told to give one, with the function's group as an example
    with pytest.raises(ToolFailed, match=r"give log_group \(e\.g\. /aws/lambda/orders\)"):
        _run("query_logs", ctx, query="fields @message")


def test_query_logs_on_a_missing_log_group_fails_for_the_model(
    runtime: LocalRuntime, clock: FakeClock
) -> None:
    # Given a log signal
    ctx = _ctx(_log_signal("/aws/lambda/orders"))
    # When the model names a group that does not exist
    # Then moto's ResourceNotFoundException becomes a ToolFailed naming the group
    with pytest.raises(ToolFailed, match=r"log group /aws/lambda/nope-\w+ was not found"):
        _run("query_logs", ctx, query="fields @message", log_group=_unique("/aws/lambda/nope"))


def test_a_malformed_query_fails_with_aws_message(log_group: str, clock: FakeClock) -> None:
    # Given Logs Insights rejecting the query (moto never does: the answer is AWS's shape)
    reject = _aws_error(
        400,
        "MalformedQueryException",
        "unexpected symbol found bogus at line 1 and position 1",
        queryCompileError={
            "location": {"startCharOffset": 0, "endCharOffset": 5},
            "message": "unexpected symbol found bogus at line 1 and position 1",
        },
    )
    ctx = _ctx(_log_signal(log_group))
    # When the model runs it
    with (
        _hooked("logs", "before-call", "StartQuery", reject),
        pytest.raises(ToolFailed) as failed,
    ):
        _run("query_logs", ctx, query="bogus | stats")
    # Then the model reads AWS's own message, and nothing was polled
    assert str(failed.value) == (
        "malformed query: unexpected symbol found bogus at line 1 and position 1"
    )
    assert clock.sleeps == []


def test_a_query_still_running_is_stopped_after_the_bounded_wait(
    log_group: str, clock: FakeClock
) -> None:
    # Given a query that never completes, and StopQuery answered (moto lacks it)
    def running(parsed: dict[str, Any], **_: Any) -> None:
        parsed["status"] = "Running"
        parsed["results"] = []

    stopped: list[str] = []

    def stop(params: dict[str, Any], **_: Any) -> tuple[_Http, dict[str, Any]]:
        stopped.append(json.loads(params["body"])["queryId"])
        return _Http(200), {"success": True}

    ctx = _ctx(_log_signal(log_group))
    # When the model runs it
    with (
        _hooked("logs", "after-call", "GetQueryResults", running),
        _hooked("logs", "before-call", "StopQuery", stop),
        pytest.raises(ToolFailed, match=r"query still running after 60 s; narrow it") as failed,
    ):
        _run("query_logs", ctx, query="fields @message")
    # Then it waited 60 s in all, backing off from 0.5 s to 5 s, and stopped the query
    assert clock.sleeps[:5] == [0.5, 1.0, 2.0, 4.0, 5.0]
    assert max(clock.sleeps) == 5.0
    assert sum(clock.sleeps) == pytest.approx(60.0)
    assert len(stopped) == 1 and stopped[0]
    assert "it was stopped" in str(failed.value)


def test_throttling_is_a_transient_error(log_group: str, clock: FakeClock) -> None:
    # Given CloudWatch Logs throttling StartQuery
    throttle = _aws_error(400, "ThrottlingException", "Rate exceeded")
    ctx = _ctx(_log_signal(log_group))
    # When the model queries, Then the state machine gets an error it retries
    with (
        _hooked("logs", "before-call", "StartQuery", throttle),
        pytest.raises(TransientError, match="throttled: Rate exceeded"),
    ):
        _run("query_logs", ctx, query="fields @message")


def test_query_output_is_capped(runtime: LocalRuntime, clock: FakeClock) -> None:
    # Given a group with many long lines
    group = _unique("/aws/lambda/chatty")
    logs = aws.client("logs")
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    logs.put_log_events(
        logGroupName=group,
        logStreamName="s",
        logEvents=[
            {"timestamp": _ms(SIGNAL_AT) + i, "message": f"line {i} " + "x" * 200}
            for i in range(300)
        ],
    )
    ctx = _ctx(_log_signal(group), limit=2_000)
    # When the model asks for all of them
    out = _run("query_logs", ctx, query="fields @timestamp, @message", limit=1000)
    # Then the output fits the limit and says it was cut
    assert len(out) <= 2_000
    assert "characters cut" in out
    assert "300 rows" in out


# -- get_metric_statistics ----------------------------------------------------------------

RISE = [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 4, 9, 12, 7, 3]
"""Per minute from 10 minutes before the signal: flat, a blip, then a rise at the signal."""


def _put_rise(namespace: str, name: str, dimensions: dict[str, str]) -> datetime:
    """Seed RISE one datapoint per minute; returns the minute the values rose."""
    first = SIGNAL_AT.replace(second=0) - timedelta(minutes=10)
    aws.client("cloudwatch").put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": name,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
                "Timestamp": first + timedelta(minutes=i, seconds=5),
                "Value": float(v),
            }
            for i, v in enumerate(RISE)
        ],
    )
    return first + timedelta(minutes=10)


def test_metric_statistics_show_datapoints_and_when_they_rose(runtime: LocalRuntime) -> None:
    # Given a Lambda error metric that rises at the signal
    # (unique names: moto ignores the namespace of a query with dimensions)
    namespace, fn = _unique("Test/Lambda"), _unique("orders")
    rose = _put_rise(namespace, "Errors", {"FunctionName": fn})
    ctx = _ctx(_log_signal(f"/aws/lambda/{fn}"))
    # When the model reads it
    out = _run(
        "get_metric_statistics",
        ctx,
        namespace=namespace,
        metric_name="Errors",
        dimensions={"FunctionName": fn},
    )
    # Then every datapoint is listed with its UTC minute, and the summary finds the rise
    assert out.startswith(f"{namespace} Errors {{FunctionName={fn}}} Sum per 60 s")
    peak_at = rose + timedelta(minutes=2)
    assert f"max 12 at {peak_at:%Y-%m-%dT%H:%M:%SZ}" in out
    assert "baseline 0 (the median of" in out
    assert f"above it from {rose:%Y-%m-%dT%H:%M:%SZ}" in out
    assert f"{peak_at:%Y-%m-%dT%H:%M:%SZ}  12" in out
    assert len([ln for ln in out.splitlines() if ln.startswith("20")]) == len(RISE)


def test_an_alarm_defaults_to_its_own_metric(runtime: LocalRuntime) -> None:
    # Given an alarm on a Maximum of a metric with a dimension (from its state change event)
    namespace, api = _unique("Test/ApiGateway"), _unique("orders")
    rose = _put_rise(namespace, "5XXError", {"ApiName": api})
    ctx = _ctx(_alarm_signal(namespace=namespace, stat="Maximum", dimensions={"ApiName": api}))
    # When the model names no metric
    out = _run("get_metric_statistics", ctx)
    # Then the alarm's metric, dimensions and statistic are read
    assert out.startswith(f"{namespace} 5XXError {{ApiName={api}}} Maximum per 60 s")
    assert "max 12 at " in out
    assert f"above it from {rose:%Y-%m-%dT%H:%M:%SZ}" in out
    # And a statistic the model gives wins over the alarm's
    assert " SampleCount per " in _run("get_metric_statistics", ctx, stat="SampleCount")


def test_a_log_signal_has_no_default_metric(runtime: LocalRuntime) -> None:
    ctx = _ctx(_log_signal("/aws/lambda/orders"))
    with pytest.raises(ToolFailed, match="only an alarm signal has a default metric"):
        _run("get_metric_statistics", ctx)
    with pytest.raises(ToolFailed, match="both namespace and metric_name"):
        _run("get_metric_statistics", ctx, namespace="AWS/Lambda")
    with pytest.raises(ToolFailed, match="period_s must be 1, 5, 10, 30 or a multiple of 60"):
        _run("get_metric_statistics", ctx, namespace="A", metric_name="B", period_s=45)


def test_a_metric_without_data_says_so(runtime: LocalRuntime) -> None:
    ctx = _ctx(_log_signal("/aws/lambda/orders"))
    out = _run("get_metric_statistics", ctx, namespace=_unique("Test/None"), metric_name="X")
    assert "no datapoints" in out


# -- X-Ray --------------------------------------------------------------------------------


def _trace_id(at: datetime) -> str:
    return f"1-{int(at.timestamp()):08x}-{uuid.uuid4().hex[:24]}"


def _put_trace(at: datetime, name: str, **flags: Any) -> str:
    tid = _trace_id(at)
    start = at.timestamp()
    segment: dict[str, Any] = {
        "name": name,
        "id": uuid.uuid4().hex[:16],
        "trace_id": tid,
        "start_time": start,
        "end_time": start + 0.25,
        "origin": "AWS::Lambda::Function",
        "http": {"request": {"method": "POST", "url": "/orders"}, "response": {"status": 200}},
        **flags,
    }
    if flags.get("fault"):
        segment["http"]["response"]["status"] = 500
        segment["subsegments"] = [
            {
                "name": "DynamoDB",
                "id": uuid.uuid4().hex[:16],
                "start_time": start + 0.01,
                "end_time": start + 0.2,
                "namespace": "aws",
                "aws": {"operation": "GetItem"},
            },
            {
                "name": "handle",
                "id": uuid.uuid4().hex[:16],
                "start_time": start + 0.2,
                "end_time": start + 0.21,
                "fault": True,
                "cause": {
                    "working_directory": "/var/task",
                    "exceptions": [
                        {
                            "id": uuid.uuid4().hex[:16],
                            "type": "KeyError",
                            "message": "'user'",
                            "stack": [{"path": "app/handler.py", "line": 2, "label": "handle"}],
                        }
                    ],
                },
            },
        ]
    aws.client("xray").put_trace_segments(TraceSegmentDocuments=[json.dumps(segment)])
    return tid


def test_trace_summaries_list_faults_and_errors_first(runtime: LocalRuntime) -> None:
    # Given an ok, an error and a faulting trace near the signal, and one long before
    ok = _put_trace(SIGNAL_AT - timedelta(minutes=2), "orders")
    error = _put_trace(SIGNAL_AT - timedelta(minutes=1), "orders", error=True)
    fault = _put_trace(SIGNAL_AT, "orders", fault=True)
    old = _put_trace(SIGNAL_AT - timedelta(hours=3), "orders", fault=True)
    ctx = _ctx(_log_signal("/aws/lambda/orders"))
    # When the model lists traces around the signal
    out = _run("get_trace_summaries", ctx)
    # Then the fault comes before the error, which comes before the ok trace
    assert out.index(fault) < out.index(error) < out.index(ok)
    assert f"{fault}  FAULT" in out and f"{error}  ERROR" in out and f"{ok}  ok" in out
    assert old not in out
    # And the limit keeps the problems
    limited = _run("get_trace_summaries", ctx, limit=1)
    assert "faults and errors first, follow" in limited
    assert ok not in limited


def test_get_trace_shows_segments_and_exceptions(runtime: LocalRuntime) -> None:
    # Given a faulting trace whose subsegment caught a KeyError
    tid = _put_trace(SIGNAL_AT, "orders", fault=True)
    ctx = _ctx(_log_signal("/aws/lambda/orders"))
    # When the model opens it
    out = _run("get_trace", ctx, trace_id=tid)
    # Then the tree shows names, durations, flags and the exception with its frame
    lines = out.splitlines()
    assert lines[0].startswith(f"Trace {tid}: 1 segments")
    assert lines[1] == "orders (AWS::Lambda::Function)  250 ms  FAULT  POST /orders -> 500"
    assert lines[2] == "  DynamoDB [aws]  190 ms  operation GetItem"
    assert lines[3] == "  handle  10 ms  FAULT"
    assert lines[4] == "    ! KeyError: 'user' (at app/handler.py:2 in handle)"
    # And an unknown trace is a failure the model reads
    with pytest.raises(ToolFailed, match="was not found"):
        _run("get_trace", ctx, trace_id=_trace_id(SIGNAL_AT))


def test_trace_output_is_capped(runtime: LocalRuntime) -> None:
    tid = _put_trace(SIGNAL_AT, "orders", fault=True)
    out = _run("get_trace", _ctx(_log_signal("/aws/lambda/orders"), limit=120), trace_id=tid)
    assert len(out) <= 120
    assert "characters cut" in out


# -- recent_deployments -------------------------------------------------------------------


def _deploy_function(name: str) -> None:
    """A function created at version 1 (commit aaa111), then updated and published as
    version 2 (commit bbb222): both now, i.e. just after SIGNAL_AT's window start."""
    iam = aws.client("iam")
    role = iam.create_role(
        RoleName=_unique("fixloop-telemetry"),
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as z:
        z.writestr("app/handler.py", "def handle(event, context):\n    return 1\n")
    lam = aws.client("lambda")
    lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="app.handler.handle",
        Code={"ZipFile": code.getvalue()},
        Environment={"Variables": {"GIT_COMMIT": "aaa111"}},
        Tags={"git_commit": "bbb222"},
        Publish=True,
    )
    lam.update_function_configuration(
        FunctionName=name, Environment={"Variables": {"GIT_COMMIT": "bbb222"}}
    )
    lam.publish_version(FunctionName=name, Description="deploy bbb222")


def test_recent_deployments_lists_the_function_versions_before_the_signal(
    runtime: LocalRuntime,
) -> None:
    # Given a Lambda function deployed twice, and errors from its log group a minute later
    fn = _unique("orders")
    _deploy_function(fn)
    at = datetime.now(UTC) + timedelta(minutes=1)
    ctx = _ctx(_log_signal(f"/aws/lambda/{fn}", at=at))
    # When the model asks what was deployed
    out = _run("recent_deployments", ctx)
    # Then both versions and $LATEST are in the window, with their commits, newest first
    assert f"Lambda function {fn} (from /aws/lambda/{fn})" in out
    assert "3 changes in the window, newest first:" in out
    assert "version 2 published (GIT_COMMIT=bbb222; description 'deploy bbb222'" in out
    assert "version 1 published (GIT_COMMIT=aaa111" in out
    assert "$LATEST code or configuration updated (GIT_COMMIT=bbb222; tag git_commit=bbb222" in out
    assert out.index("version 2 published") < out.index("version 1 published")
    assert "current commit: GIT_COMMIT=bbb222" in out
    assert "Not checked: CloudFormation" in out


def test_recent_deployments_outside_the_window_and_for_other_sources(
    runtime: LocalRuntime,
) -> None:
    # Given a function deployed now and a signal two days later
    fn = _unique("orders")
    _deploy_function(fn)
    later = datetime.now(UTC) + timedelta(days=2)
    out = _run("recent_deployments", _ctx(_log_signal(f"/aws/lambda/{fn}", at=later)))
    # Then nothing is in the window, and the last change before it is named
    assert "no deployment in the 4.0 h before the signal" in out
    assert "latest change before the window:" in out
    assert "2.0 days before the signal" in out
    # And an alarm without a function says what was (not) checked
    alarm = _run("recent_deployments", _ctx(_alarm_signal()))
    assert alarm.startswith("Nothing checked: the signal's source 'orders-5xx'")
    assert "CloudFormation" in alarm
    # And a function that does not exist is a failure the model reads
    with pytest.raises(ToolFailed, match=r"Lambda function nope-\w+ \(given\) was not found"):
        _run("recent_deployments", _ctx(_alarm_signal()), function_name=_unique("nope"))


# -- suspect_commits ----------------------------------------------------------------------


TRACEBACK = """Traceback (most recent call last):
  File "/var/runtime/bootstrap.py", line 60, in handle_event_request
  File "/var/task/app/handler.py", line 3, in handle
    return ident(event["user"]["id"])
  File "/var/task/vendor/site-packages/six.py", line 1, in x
  File "/var/task/app/util.py", line 2, in ident
    return x.strip()
KeyError: 'user'"""


def test_suspect_commits_blames_the_lines_of_the_stack_trace(tmp_path: Path) -> None:
    # Given a repository where Alice wrote util.py's line 2 and Bob later changed handler's
    # line 3, then Carol changed an unrelated file
    repo = make_repo(
        tmp_path / "svc",
        {
            "app/handler.py": "from app.util import ident\ndef handle(event):\n    return 1\n",
            "app/util.py": "def ident(x):\n    return x\n",
        },
    )
    alice = commit_as(
        repo, "Alice", "Strip identifiers", {"app/util.py": "def ident(x):\n    return x.strip()\n"}
    )
    bob = commit_as(
        repo,
        "Bob",
        "Read the user id from the event",
        {
            "app/handler.py": "from app.util import ident\ndef handle(event):\n"
            '    return ident(event["user"]["id"])\n'
        },
    )
    commit_as(repo, "Carol", "Docs", {"README.md": "# svc\n"})
    ws = Workspace.create(tmp_path / "ws", repo, head(repo))
    signal = _log_signal("/aws/lambda/orders", lines=["START", TRACEBACK, TRACEBACK])
    # When the sandbox runs suspect_commits
    out = _run("suspect_commits", _ctx(signal, ws=ws))
    # Then Bob's commit explains the handler frame and Alice's the util frame, newest first
    lines = out.splitlines()
    assert lines[0].startswith("2 commits last changed the lines of 2 application frames")
    assert lines[1].startswith(f"{bob[:12]}  ")
    assert lines[1].endswith("Bob <bob@example.com>  Read the user id from the event")
    assert lines[2] == "    app/handler.py:3 <- /var/task/app/handler.py:3 in handle"
    assert lines[3] == '        return ident(event["user"]["id"])'
    assert lines[4].startswith(f"{alice[:12]}  ")
    assert lines[4].endswith("Alice <alice@example.com>  Strip identifiers")
    assert lines[5] == "    app/util.py:2 <- /var/task/app/util.py:2 in ident"
    # And the runtime and library frames were not blamed
    assert "bootstrap" not in out and "six.py" not in out


def test_suspect_commits_without_frames_or_outside_the_sandbox(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "svc", {"app/handler.py": "x = 1\n"})
    ws = Workspace.create(tmp_path / "ws", repo, head(repo))
    with pytest.raises(ToolFailed, match="no application stack frames"):
        _run("suspect_commits", _ctx(_log_signal("/aws/lambda/orders", ["ERROR boom"]), ws=ws))
    with pytest.raises(ToolFailed, match="runs only in the sandbox"):
        _run("suspect_commits", _ctx(_log_signal("/aws/lambda/orders", [TRACEBACK])))
    # A frame past the end of its file is reported, not blamed
    out = _run(
        "suspect_commits",
        _ctx(_log_signal("/aws/lambda/orders"), ws=ws),
        stack_trace='File "/var/task/app/handler.py", line 9, in handle',
    )
    assert "past the end of app/handler.py" in out


def test_frames_of_python_node_and_java_traces() -> None:
    # Given a Python, a Node and a Java trace in one text, each through library or runtime code
    text = "\n".join(
        [
            "Traceback (most recent call last):",
            '  File "/var/task/app/handler.py", line 12, in handle',
            '  File "/var/lang/lib/python3.12/json/__init__.py", line 346, in loads',
            "json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)",
            "TypeError: Cannot read properties of undefined (reading 'id')",
            "    at processOrder (/var/task/src/orders.js:42:17)",
            "    at /var/task/src/index.mjs:7:3",
            "    at Module._compile (node:internal/modules/cjs/loader:1105:14)",
            "    at Object.<anonymous> (/var/task/node_modules/lib/x.js:1:1)",
            "java.lang.IllegalStateException: no order",
            "\tat com.acme.orders.Handler$Inner.handle(Handler.java:42)",
            "\tat java.base/jdk.internal.reflect.Method.invoke(Method.java:566)",
        ]
    )
    # When / Then the application's frames are found, the JDK's among the library frames left out
    assert [(f.source_path, f.line) for f in application_frames(text)] == [
        ("/var/task/app/handler.py", 12),
        ("/var/task/src/index.mjs", 7),
        ("/var/task/src/orders.js", 42),
        ("com/acme/orders/Handler.java", 42),
    ]


def test_suspect_commits_reads_lambda_and_powertools_json_log_lines(tmp_path: Path) -> None:
    # Given Bob's change to the handler line, and the error logged as one JSON line in Lambda's
    # JSON log format (the frames in "stackTrace", quotes escaped), which triage fingerprints
    repo = make_repo(tmp_path / "svc", {"app/handler.py": "def handle(event):\n    return 1\n"})
    bob = commit_as(
        repo,
        "Bob",
        "Read the user id from the event",
        {"app/handler.py": 'def handle(event):\n    return event["user"]["id"]\n'},
    )
    ws = Workspace.create(tmp_path / "ws", repo, head(repo))
    frame = '  File "/var/task/app/handler.py", line 2, in handle\n'
    lambda_json = json.dumps(
        {
            "timestamp": "2026-11-22T09:20:00Z",
            "level": "ERROR",
            "errorMessage": "'user'",
            "errorType": "KeyError",
            "requestId": "3f1c2a9e-1b2c-4d5e-8f90-123456789abc",
            "stackTrace": [
                '  File "/var/runtime/bootstrap.py", line 60, in handle_event_request\n',
                frame + '    return event["user"]["id"]\n',
            ],
        }
    )
    powertools = json.dumps(
        {
            "level": "ERROR",
            "message": "checkout failed",
            "service": "orders",
            "exception": f"Traceback (most recent call last):\n{frame}KeyError: 'user'",
            "exception_name": "KeyError",
        }
    )
    for line in (lambda_json, powertools):
        assert parse_error(line).frames, "triage reads the frame it fingerprints"
        # When the sandbox runs suspect_commits on the signal holding that line
        out = _run("suspect_commits", _ctx(_log_signal("/aws/lambda/orders", [line]), ws=ws))
        # Then Bob's commit explains the frame
        lines = out.splitlines()
        assert lines[0].startswith("1 commit last changed the lines of 1 application frame")
        assert lines[1].startswith(f"{bob[:12]}  ")
        assert lines[2] == "    app/handler.py:2 <- /var/task/app/handler.py:2 in handle"
        assert "bootstrap" not in out


# -- the registry -------------------------------------------------------------------------


def test_the_telemetry_tools_are_registered() -> None:
    reg = default_registry()
    for name in (
        "query_logs",
        "get_metric_statistics",
        "get_trace_summaries",
        "get_trace",
        "recent_deployments",
    ):
        tool = reg.get(name)
        assert tool is not None and tool.runs_in == "lambda" and not tool.mutating
    suspects = reg.get("suspect_commits")
    assert suspects is not None and suspects.runs_in == "sandbox" and not suspects.mutating
    schema = {d.name: d.input_schema for d in reg.definitions()}
    assert schema["query_logs"]["required"] == ["query"]
    assert "required" not in schema["suspect_commits"]


# -- through the state machine ------------------------------------------------------------


def test_a_scripted_investigation_routes_telemetry_to_run_tool_and_blame_to_the_sandbox(
    runtime: LocalRuntime, tmp_path: Path
) -> None:
    # Given a log signal with a traceback, its log group seeded, and the repository
    group = _unique("/aws/lambda/orders")
    message = logs_message([TRACEBACK], group=group)
    logs = aws.client("logs")
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    stamp = message["logEvents"][0]["timestamp"]
    logs.put_log_events(
        logGroupName=group,
        logStreamName="s",
        logEvents=[{"timestamp": stamp, "message": "ERROR KeyError: 'user'"}],
    )
    repo = make_repo(
        tmp_path / "svc",
        {"app/handler.py": "def handle(event):\n    x = 1\n    return event['user']\n"},
    )
    turns = [
        [
            tool_use("query_logs", query="fields @timestamp, @message"),
            tool_use("suspect_commits"),
        ],
        [tool_use("finish", summary="Found it.")],
    ]
    # When the investigation runs
    summary = run_scripted(runtime, repo, turns, tmp_path / "s.jsonl", signal=message)
    # Then the query ran in Run Tool and the blame in the sandbox, both with results
    results = {
        e.event.name: e.event
        for e in log_of(summary.investigation.investigation_id)
        if isinstance(e.event, ToolResult)
    }
    assert not results["query_logs"].is_error, results["query_logs"].content
    assert "ERROR KeyError: 'user'" in results["query_logs"].content
    assert not results["suspect_commits"].is_error, results["suspect_commits"].content
    assert "app/handler.py:3 <- /var/task/app/handler.py:3 in handle" in (
        results["suspect_commits"].content
    )
    assert summary.investigation.status == "finished"
