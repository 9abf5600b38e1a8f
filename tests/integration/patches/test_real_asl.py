"""The patches together: a small ASL using every construct the loop uses, and the real ASL
with stand-in handlers, on moto's real server and interpreter. These fail loudly when a moto
upgrade breaks a patch."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fixloop.cli.execution_stats import execution_stats
from fixloop.local.handlers import CONTINUE_AS_NEW_PLACEHOLDER
from tests.integration.patches.harness import (
    PREFIX,
    REGION,
    BadInputError,
    BoomError,
    Handler,
    InjectedFault,
    ModelError,
    Moto,
    check_paging,
)

REAL_ASL = Path(__file__).resolve().parents[3] / "statemachines" / "investigation.asl.json"


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

    check_paging(moto, parent, events)
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
        state = event["state"]  # and "attempt", the task's retry count
        if state["investigation_id"] == "inv-fail":
            raise ModelError("the model refused")
        if state["investigation_id"] == "inv-retry" and event["attempt"] == 0:
            raise InjectedFault("model throttled")  # retried
        turn = state["turn"] + 1
        if n == 1:
            return {
                **state,
                "turn": turn,
                "action": "tools",
                "tool_calls": [
                    {"id": "t1", "runs_in": "lambda"},
                    {"id": "t2", "runs_in": "lambda"},
                ],
            }
        return {**state, "turn": turn, "action": "deliver"}

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
    # Run Tool gets the call and its retry count; Record Tool Failure the Map item and error
    assert [e["attempt"] for e in fake.seen["run_tool:t1"]] == [0, 1]
    assert set(fake.seen["run_tool:t2"][0]) == {
        "investigation_id",
        "turn",
        "index",
        "tool_use_id",
        "attempt",
    }
    assert "attempt" not in fake.seen["run_tool:t2"][1]
    # Model Turn gets the state and its retry count
    assert [e["attempt"] for e in fake.seen["model_turn"]] == [0, 0]
    assert fake.seen["model_turn"][0]["state"]["turn"] == 0
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
    assert "state" not in fake.seen["mark_failed"][0]  # the Catch keeps the state's own shape

    # A retried Model Turn sees its retry count go up.
    retried = moto.wait(moto.start(sm, "inv-retry-g1", {"investigation_id": "inv-retry"}))
    assert retried["status"] == "SUCCEEDED"
    attempts = [
        e["attempt"]
        for e in fake.seen["model_turn"]
        if e["state"]["investigation_id"] == "inv-retry"
    ]
    assert attempts == [0, 1]

    timings["all"] = time.perf_counter() - started
    print(f"real ASL: {stats} {child_stats} timings={timings}")
    assert timings["all"] < 10
