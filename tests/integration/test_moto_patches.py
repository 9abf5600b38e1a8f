"""fixloop.local.moto_patches against moto's real server and ASL interpreter.

One ThreadedMotoServer on loopback for the module; Lambda functions are small Python
functions routed by the patches. These tests fail loudly when a moto upgrade breaks a patch.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from fixloop.cli.execution_stats import execution_stats
from fixloop.local import moto_patches
from fixloop.local.handlers import CONTINUE_AS_NEW_PLACEHOLDER

REGION = "us-east-1"
REAL_ASL = Path(__file__).resolve().parents[2] / "statemachines" / "investigation.asl.json"
PREFIX = "mp"  # every name here starts with it: moto's backends are shared process-wide

Handler = Callable[[dict[str, Any]], Any]


class InjectedFault(Exception):
    pass


class BoomError(Exception):
    pass


class BadInputError(Exception):
    pass


class ModelError(Exception):
    pass


@dataclass
class Moto:
    endpoint_url: str
    role_arn: str
    handlers: dict[str, Handler]
    dispatch: moto_patches.Dispatch
    sleeps: list[float] = field(default_factory=list)
    clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        if service not in self.clients:
            self.clients[service] = boto3.client(
                service, endpoint_url=self.endpoint_url, region_name=REGION
            )
        return self.clients[service]

    def function(self, name: str, handler: Handler) -> str:
        """Create a Lambda function routed to ``handler``; return its ARN."""
        self.handlers[name] = handler
        arn: str = self.client("lambda").create_function(
            FunctionName=name,
            Runtime="python3.13",
            Role=self.role_arn,
            Handler="handler.lambda_handler",
            Code={"ZipFile": b"not used: moto_patches dispatches in-process"},
        )["FunctionArn"]
        return arn

    def state_machine(self, name: str, definition: dict[str, Any] | str) -> str:
        text = definition if isinstance(definition, str) else json.dumps(definition)
        arn: str = self.client("stepfunctions").create_state_machine(
            name=name, definition=text, roleArn=self.role_arn
        )["stateMachineArn"]
        return arn

    def start(self, state_machine_arn: str, name: str, payload: dict[str, Any]) -> str:
        arn: str = self.client("stepfunctions").start_execution(
            stateMachineArn=state_machine_arn, name=name, input=json.dumps(payload)
        )["executionArn"]
        return arn

    def wait(self, execution_arn: str, timeout_s: float = 10.0) -> dict[str, Any]:
        sfn = self.client("stepfunctions")
        deadline = time.monotonic() + timeout_s
        while True:
            described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING":
                return described
            if time.monotonic() > deadline:
                raise AssertionError(f"{execution_arn} still RUNNING after {timeout_s}s")
            time.sleep(0.005)

    def history(self, execution_arn: str, **kwargs: Any) -> list[dict[str, Any]]:
        pages = self.client("stepfunctions").get_paginator("get_execution_history")
        return [
            e for p in pages.paginate(executionArn=execution_arn, **kwargs) for e in p["events"]
        ]


@pytest.fixture(scope="module")
def moto() -> Iterator[Moto]:
    from moto.server import ThreadedMotoServer

    handlers: dict[str, Handler] = {}

    def dispatch(function_name: str, event: dict[str, Any]) -> Any:
        return handlers[function_name](event)

    with pytest.MonkeyPatch.context() as env:
        for key, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        }.items():
            env.setenv(key, value)
        env.delenv("AWS_SESSION_TOKEN", raising=False)
        env.delenv("AWS_ENDPOINT_URL", raising=False)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        try:
            with moto_patches.installed(dispatch, endpoint):
                harness = Moto(endpoint, "", handlers, dispatch)
                harness.role_arn = harness.client("iam").create_role(
                    RoleName=f"{PREFIX}-role",
                    AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17"}),
                )["Role"]["Arn"]
                moto_patches.set_retry_sleep(harness.sleeps.append)
                yield harness
        finally:
            server.stop()


# --------------------------------------------------------------------------- guards


def test_moto_version_is_the_pinned_one(monkeypatch: pytest.MonkeyPatch) -> None:
    import moto as moto_package

    moto_patches.assert_moto_version()
    monkeypatch.setattr(moto_package, "__version__", "5.2.6")
    with pytest.raises(RuntimeError, match=r"moto==5\.2\.5"):
        moto_patches.assert_moto_version()


def test_install_is_idempotent_and_fails_loudly(
    moto: Moto, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service,
    )

    patched = LambdaSimpleBackend.invoke
    dispatch = moto.dispatch
    moto_patches.install(dispatch)
    moto_patches.install(dispatch)
    assert LambdaSimpleBackend.invoke is patched  # not wrapped twice

    moto_patches.uninstall()
    try:
        assert LambdaSimpleBackend.invoke is not patched
        monkeypatch.delattr(state_task_service.StateTaskService, "_to_boto_request")
        with pytest.raises(RuntimeError, match=r"StateTaskService\._to_boto_request is missing"):
            moto_patches.install(dispatch)
        monkeypatch.undo()
    finally:
        moto_patches.install(dispatch)
    assert LambdaSimpleBackend.invoke is patched


# --------------------------------------------------------------------------- Lambda


def test_direct_invoke_routes_to_dispatch_and_reports_function_errors(moto: Moto) -> None:
    seen: list[dict[str, Any]] = []

    def echo(event: dict[str, Any]) -> Any:
        seen.append(event)
        if event.get("fail"):
            raise BoomError("asked to fail")
        return {"echo": event}

    arn = moto.function(f"{PREFIX}-echo", echo)
    lam = moto.client("lambda")

    ok = lam.invoke(FunctionName=f"{PREFIX}-echo", Payload=json.dumps({"a": 1}))
    assert ok["StatusCode"] == 200
    assert "FunctionError" not in ok
    assert json.loads(ok["Payload"].read()) == {"echo": {"a": 1}}
    assert ok["ExecutedVersion"] == "$LATEST"

    by_arn = lam.invoke(FunctionName=arn, Payload=b'{"b": 2}')
    assert json.loads(by_arn["Payload"].read()) == {"echo": {"b": 2}}

    failed = lam.invoke(FunctionName=arn, Payload=json.dumps({"fail": True}))
    assert failed["StatusCode"] == 200
    assert failed["FunctionError"] == "Unhandled"
    error = json.loads(failed["Payload"].read())
    assert error["errorType"] == "BoomError"
    assert error["errorMessage"] == "asked to fail"
    assert isinstance(error["stackTrace"], list)
    assert any("in echo" in line for line in error["stackTrace"])

    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.invoke(FunctionName=f"{PREFIX}-missing", Payload=b"{}")
    assert seen == [{"a": 1}, {"b": 2}, {"fail": True}]

    dry = lam.invoke(FunctionName=arn, InvocationType="DryRun", Payload=b'{"dry": 1}')
    assert dry["StatusCode"] == 204
    queued = lam.invoke(FunctionName=arn, InvocationType="Event", Payload=b'{"later": 1}')
    assert queued["StatusCode"] == 202
    deadline = time.monotonic() + 2
    while {"later": 1} not in seen and time.monotonic() < deadline:
        time.sleep(0.005)
    assert seen[3:] == [{"later": 1}]  # run in the background, never the DryRun


# --------------------------------------------------------------------------- small ASL


def _small_asl(arns: dict[str, str]) -> dict[str, Any]:
    def invoke(function: str, **extra: Any) -> dict[str, Any]:
        return {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": arns[function], "Payload.$": "$"},
            **extra,
        }

    return {
        "StartAt": "Is Child",
        "States": {
            "Is Child": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.child", "BooleanEquals": True, "Next": "Child Done"}],
                "Default": "Count",
            },
            "Count": invoke("count", OutputPath="$.Payload", Next="Enough"),
            "Enough": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.n", "NumericLessThan": 3, "Next": "Count"}],
                "Default": "Fan Out",
            },
            "Fan Out": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "MaxConcurrencyPath": "$.concurrency",
                "ItemSelector": {
                    "index.$": "$$.Map.Item.Index",
                    "id.$": "$$.Map.Item.Value.id",
                    "n.$": "$.n",
                },
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "Work",
                    "States": {"Work": invoke("work", OutputPath="$.Payload", End=True)},
                },
                "ResultPath": "$.mapped",
                "Next": "Flaky",
            },
            "Flaky": invoke(
                "flaky",
                ResultSelector={"attempt.$": "$.Payload.attempt"},
                ResultPath="$.flaky",
                Retry=[
                    {
                        "ErrorEquals": ["InjectedFault"],
                        "IntervalSeconds": 30,
                        "MaxAttempts": 3,
                        "BackoffRate": 2.0,
                        "MaxDelaySeconds": 60,
                        "JitterStrategy": "FULL",
                    }
                ],
                Next="Explode",
            ),
            "Explode": invoke(
                "boom",
                OutputPath="$.Payload",
                Catch=[
                    {"ErrorEquals": ["NotThisOne"], "ResultPath": "$.wrong", "Next": "Spawn"},
                    {"ErrorEquals": ["BoomError"], "ResultPath": "$.caught", "Next": "Plain Arn"},
                ],
                Next="Spawn",
            ),
            "Plain Arn": {
                "Type": "Task",
                "Resource": arns["boom"],
                "Catch": [
                    {"ErrorEquals": ["BoomError"], "ResultPath": "$.caught_plain", "Next": "Spawn"}
                ],
                "Next": "Spawn",
            },
            "Spawn": {
                "Type": "Task",
                "Resource": "arn:aws:states:::states:startExecution",
                "Parameters": {
                    "StateMachineArn.$": "$$.StateMachine.Id",
                    "Name.$": "$.child_name",
                    "Input": {
                        "child": True,
                        "n.$": "$.n",
                        "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$": "$$.Execution.Id",
                    },
                },
                "ResultPath": "$.started",
                "End": True,
            },
            "Child Done": {"Type": "Succeed"},
        },
    }


def test_small_asl_runs_every_construct_the_loop_uses(moto: Moto) -> None:
    in_flight = 0
    peak = 0
    lock = threading.Lock()
    calls: Counter[str] = Counter()

    def count(event: dict[str, Any]) -> Any:
        calls["count"] += 1
        return {**event, "n": event.get("n", 0) + 1}

    def work(event: dict[str, Any]) -> Any:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.05)
        with lock:
            in_flight -= 1
        return {"done": f"{event['index']}:{event['id']}", "n": event["n"]}

    def flaky(event: dict[str, Any]) -> Any:
        calls["flaky"] += 1
        if calls["flaky"] == 1:
            raise InjectedFault("transient")
        return {"attempt": calls["flaky"]}

    def boom(event: dict[str, Any]) -> Any:
        calls["boom"] += 1
        raise BoomError(f"boom {calls['boom']}")

    arns = {
        name: moto.function(f"{PREFIX}-small-{name}", fn)
        for name, fn in {"count": count, "work": work, "flaky": flaky, "boom": boom}.items()
    }
    sm = moto.state_machine(f"{PREFIX}-small", _small_asl(arns))
    moto.sleeps.clear()
    items = [{"id": x} for x in "abcd"]

    started = time.perf_counter()
    parent = moto.start(
        sm, "parent-1", {"items": items, "concurrency": 2, "child_name": "child-of-parent-1"}
    )
    done = moto.wait(parent)
    elapsed = time.perf_counter() - started

    assert done["status"] == "SUCCEEDED", done
    output = json.loads(done["output"])
    # lambda:invoke + OutputPath, and a Choice loop of three iterations
    assert output["n"] == 3
    assert calls["count"] == 3
    # Map: MaxConcurrencyPath honoured, ItemSelector with $$.Map.Item.Index / .Value
    assert output["mapped"] == [{"done": f"{i}:{x['id']}", "n": 3} for i, x in enumerate(items)]
    assert peak == 2
    # Retry on the exception's class name; the interval went through the hook, not real time
    assert output["flaky"] == {"attempt": 2}
    assert len(moto.sleeps) == 1
    assert 0 <= moto.sleeps[0] <= 30
    assert elapsed < 5
    # Catch on a custom error name, for lambda:invoke and for a plain function ARN
    assert output["caught"]["Error"] == "BoomError"
    assert json.loads(output["caught"]["Cause"])["errorMessage"] == "boom 1"
    assert output["caught_plain"]["Error"] == "BoomError"
    assert "wrong" not in output
    # states:startExecution with $$.StateMachine.Id: the documented response...
    assert set(output["started"]) == {"ExecutionArn", "StartDate"}
    child_arn = output["started"]["ExecutionArn"]
    assert child_arn == parent.replace(":parent-1", ":child-of-parent-1")
    # ...and a child that ran with the right input
    child = moto.wait(child_arn)
    assert child["status"] == "SUCCEEDED"
    assert json.loads(child["input"]) == {
        "child": True,
        "n": 3,
        "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID": parent,
    }
    assert child["stateMachineArn"] == sm

    # The history has the details the runtime measures, Map iterations and Lambda tasks too.
    events = moto.history(parent)
    types = Counter(e["type"] for e in events)
    assert types["MapIterationStarted"] == types["MapIterationSucceeded"] == len(items)
    assert types["TaskFailed"] == 2  # the InjectedFault attempt and the caught BoomError
    assert types["LambdaFunctionFailed"] == 1
    entered = [e for e in events if e["type"].endswith("StateEntered")]
    assert all("input" in e["stateEnteredEventDetails"] for e in entered)
    work_inputs = [
        json.loads(e["stateEnteredEventDetails"]["input"])
        for e in entered
        if e["stateEnteredEventDetails"]["name"] == "Work"
    ]
    assert sorted(w["index"] for w in work_inputs) == [0, 1, 2, 3]
    succeeded = [e["taskSucceededEventDetails"] for e in events if e["type"] == "TaskSucceeded"]
    assert all("output" in d for d in succeeded)
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))

    _check_paging(moto, parent, events)
    stats = execution_stats(moto.client("stepfunctions"), parent)
    assert (stats.history_events, stats.state_transitions, stats.max_payload_bytes) == (
        len(events),
        len(entered),
        _largest(events),
    )
    # and every Lambda task invocation is counted, with the time it took, per function
    lambda_tasks = [
        e
        for e in events
        if e["type"] == "TaskStarted" and e["taskStartedEventDetails"]["resourceType"] == "lambda"
    ]
    assert sum(stats.lambda_requests.values()) == len(lambda_tasks)
    assert set(stats.lambda_ms) <= set(stats.lambda_requests)
    # Is Child, Count x3, Enough x3, Fan Out, Work x4, Flaky, Explode, Plain Arn, Spawn
    assert stats.state_transitions == 16


def _largest(events: list[dict[str, Any]]) -> int:
    sizes = [
        len(details[key].encode())
        for event in events
        for name, details in event.items()
        if name.endswith("EventDetails")
        for key in ("input", "output", "parameters")
        if key in details
    ]
    return max(sizes)


def _check_paging(moto: Moto, execution_arn: str, events: list[dict[str, Any]]) -> None:
    sfn = moto.client("stepfunctions")
    first = sfn.get_execution_history(executionArn=execution_arn, maxResults=7)
    assert [e["id"] for e in first["events"]] == list(range(1, 8))
    assert first["nextToken"]
    paged = moto.history(execution_arn, PaginationConfig={"PageSize": 7})
    assert paged == events
    newest_first = moto.history(execution_arn, reverseOrder=True, PaginationConfig={"PageSize": 5})
    assert [e["id"] for e in newest_first] == [e["id"] for e in reversed(events)]
    bare = sfn.get_execution_history(executionArn=execution_arn, includeExecutionData=False)
    assert not any(
        "input" in d or "output" in d
        for e in bare["events"]
        for k, d in e.items()
        if k.endswith("EventDetails")
    )
    default_page = sfn.get_execution_history(executionArn=execution_arn)
    assert len(default_page["events"]) == min(len(events), 100)
    with pytest.raises(sfn.exceptions.InvalidToken):
        sfn.get_execution_history(executionArn=execution_arn, nextToken="not-a-token")


# --------------------------------------------------------------------------- the real ASL


@dataclass
class FakeLoop:
    """Stand-ins for the real handlers, returning the shapes the ASL routes on."""

    calls: Counter[str] = field(default_factory=Counter)
    seen: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, name: str, event: dict[str, Any]) -> int:
        with self.lock:
            self.calls[name] += 1
            self.seen.setdefault(name, []).append(event)
            return self.calls[name]

    def prepare(self, event: dict[str, Any]) -> Any:
        self.record("prepare", event)
        inv, gen, turn = event["investigation_id"], event.get("generation", 0), event.get("turn", 0)
        state = {
            "investigation_id": inv,
            "generation": gen,
            "turn": turn,
            "tool_concurrency": 4,
            "sandbox_heartbeat_seconds": 60,
        }
        if "continue_as" in event:
            return {
                **state,
                "action": "continue",
                "next_execution_name": event["continue_as"],
                "next_generation": gen + 1,
            }
        if gen == 0 and turn > 0:  # after one turn, continue as a new generation
            return {
                **state,
                "action": "continue",
                "next_execution_name": f"{inv}-g1",
                "next_generation": 1,
            }
        return {**state, "action": "model"}

    def model_turn(self, event: dict[str, Any]) -> Any:
        n = self.record("model_turn", event)
        if event["investigation_id"] == "inv-fail":
            raise ModelError("the model refused")
        turn = event["turn"] + 1
        if n == 1:
            return {
                **event,
                "turn": turn,
                "action": "tools",
                "tool_calls": [
                    {"id": "t1", "runs_in": "lambda"},
                    {"id": "t2", "runs_in": "lambda"},
                ],
            }
        return {**event, "turn": turn, "action": "deliver"}

    def run_tool(self, event: dict[str, Any]) -> Any:
        self.record(f"run_tool:{event['tool_use_id']}", event)
        if "error" in event:
            return {}  # Record Tool Failure
        if event["tool_use_id"] == "t1" and self.calls["run_tool:t1"] == 1:
            raise InjectedFault("flaky tool")  # retried
        if event["tool_use_id"] == "t2":
            raise BadInputError("bad arguments")  # MaxAttempts 0, caught
        return {}

    def deliver(self, event: dict[str, Any]) -> Any:
        self.record("deliver", event)
        return {}

    def mark_failed(self, event: dict[str, Any]) -> Any:
        self.record("mark_failed", event)
        return {}

    def dispatch_tool(self, event: dict[str, Any]) -> Any:
        self.record("dispatch_tool", event)  # no sandbox calls in this scenario
        return {}

    def wait_for_human(self, event: dict[str, Any]) -> Any:
        self.record("wait_for_human", event)  # no questions in this scenario
        return {}


def test_real_state_machine_runs_end_to_end(moto: Moto) -> None:
    definition = REAL_ASL.read_text()
    placeholders = sorted(set(re.findall(r"\$\{(\w+)\}", definition)))
    fake = FakeLoop()
    handlers: dict[str, Handler] = {
        "PrepareFunctionArn": fake.prepare,
        "ModelTurnFunctionArn": fake.model_turn,
        "RunToolFunctionArn": fake.run_tool,
        "DeliverFunctionArn": fake.deliver,
        "MarkFailedFunctionArn": fake.mark_failed,
        "DispatchToolFunctionArn": fake.dispatch_tool,
        "WaitForHumanFunctionArn": fake.wait_for_human,
    }
    # Continue As New starts the machine itself here (in AWS: its alias), as the runtime does
    assert placeholders == sorted([*handlers, CONTINUE_AS_NEW_PLACEHOLDER])
    account = moto.client("sts").get_caller_identity()["Account"]
    own_arn = f"arn:aws:states:{REGION}:{account}:stateMachine:{PREFIX}-investigation"
    definition = definition.replace("${" + CONTINUE_AS_NEW_PLACEHOLDER + "}", own_arn)
    for placeholder, handler in handlers.items():
        arn = moto.function(f"{PREFIX}-real-{placeholder.removesuffix('FunctionArn')}", handler)
        definition = definition.replace("${" + placeholder + "}", arn)
    sm = moto.state_machine(f"{PREFIX}-investigation", definition)  # accepted by moto's parser
    assert sm == own_arn
    moto.sleeps.clear()

    # Prepare -> Model Turn (tools) -> Map of 2 tools -> Prepare -> Continue As New -> Done;
    # the child generation: Prepare -> Model Turn (deliver) -> Deliver -> Done.
    timings: dict[str, float] = {}
    started = time.perf_counter()
    parent = moto.start(sm, "inv-1-g0", {"investigation_id": "inv-1", "generation": 0, "turn": 0})
    assert moto.wait(parent)["status"] == "SUCCEEDED"
    child_arn = parent.replace(":inv-1-g0", ":inv-1-g1")
    child = moto.wait(child_arn)
    timings["two generations"] = time.perf_counter() - started
    assert child["status"] == "SUCCEEDED"
    assert json.loads(child["input"]) == {
        "investigation_id": "inv-1",
        "generation": 1,
        "turn": 1,
        "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID": parent,
    }
    tool_events = fake.seen["run_tool:t1"] + fake.seen["run_tool:t2"]
    assert {(e["index"], e["tool_use_id"], e["turn"]) for e in tool_events} == {
        (0, "t1", 1),
        (1, "t2", 1),
    }
    assert fake.calls["run_tool:t1"] == 2  # InjectedFault, retried once
    assert fake.calls["run_tool:t2"] == 2  # BadInputError not retried, then Record Tool Failure
    assert fake.seen["run_tool:t2"][1]["error"]["Error"] == "BadInputError"
    assert len(moto.sleeps) == 1 and 0 <= moto.sleeps[0] <= 2  # FULL jitter on 2 s
    assert fake.calls["deliver"] == 1
    assert fake.calls["mark_failed"] == 0

    stats = execution_stats(moto.client("stepfunctions"), parent)
    # Prepare, Turn Or Continue, Model Turn, Route, Run Tools, (Runs In, Run Tool) x2,
    # Record Tool Failure, Prepare, Turn Or Continue, Continue As New, Done
    assert stats.state_transitions == 14
    assert stats.history_events == len(moto.history(parent)) > 2 * stats.state_transitions
    assert 0 < stats.max_payload_bytes < 4096  # ids and counters only
    child_stats = execution_stats(moto.client("stepfunctions"), child_arn)
    assert child_stats.state_transitions == 6  # Prepare, Turn Or, Model Turn, Route, Deliver, Done

    # A name already used: StepFunctions.ExecutionAlreadyExistsException is caught -> Done.
    dup = moto.start(sm, "inv-dup-g0", {"investigation_id": "inv-1", "continue_as": "inv-1-g1"})
    assert moto.wait(dup)["status"] == "SUCCEEDED"
    failures = [e["taskFailedEventDetails"] for e in moto.history(dup) if e["type"] == "TaskFailed"]
    assert [f["error"] for f in failures] == ["StepFunctions.ExecutionAlreadyExistsException"]

    # A model error is not retried: Catch -> Mark Failed (sees the error) -> Fail.
    failed = moto.wait(moto.start(sm, "inv-fail-g0", {"investigation_id": "inv-fail"}))
    assert failed["status"] == "FAILED"
    assert failed["error"] == "InvestigationFailed"
    assert fake.seen["mark_failed"][0]["error"]["Error"] == "ModelError"

    timings["all"] = time.perf_counter() - started
    print(f"real ASL: {stats} {child_stats} timings={timings}")
    assert timings["all"] < 10
