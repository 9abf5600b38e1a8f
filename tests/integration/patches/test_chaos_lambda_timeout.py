"""patches.chaos_lambda_timeout: a function that runs past its timeout fails as Lambda fails it
(moto's in-process dispatch runs a handler for as long as it takes)."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import Counter
from typing import Any

import boto3
from botocore.exceptions import ClientError

from fixloop.local import patches
from tests.integration.patches.harness import PREFIX, REGION, Moto, invoke
from tests.support import chaos, wait_for

SLOW_S = 0.6
"""How long the slow handler runs: past its 1 s timeout at a time scale of 0.1."""


def _slow_function(moto: Moto, name: str, finished: threading.Event, calls: Counter[str]) -> str:
    def slow(event: dict[str, Any]) -> Any:
        calls[name] += 1
        time.sleep(SLOW_S)
        finished.set()
        return {"done": True}

    moto.handlers[name] = slow
    arn: str = moto.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.13",
        Role=moto.role_arn,
        Handler="handler.lambda_handler",
        Code={"ZipFile": b"not used: the patches dispatch in-process"},
        Timeout=1,
    )["FunctionArn"]
    return arn


def test_an_invocation_past_its_timeout_fails_as_lambda_fails_it(moto: Moto) -> None:
    # Given a function with a 1 s timeout whose handler takes longer (time scale 0.1)
    finished, calls = threading.Event(), Counter[str]()
    name = f"{PREFIX}-timeout-direct"
    _slow_function(moto, name, finished, calls)

    # When it is invoked with the chaos enforcing timeouts
    with chaos("lambda_timeouts", time_scale=0.1):
        started = time.monotonic()
        answer = moto.client("lambda").invoke(FunctionName=name, Payload=b"{}")
        waited = time.monotonic() - started

    # Then the invocation fails with Lambda's timeout error when the time is up
    payload = json.loads(answer["Payload"].read())
    assert answer["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Sandbox.Timedout"
    assert payload["errorMessage"].endswith("Error: Task timed out after 1.00 seconds")
    assert payload["errorMessage"].startswith("RequestId: ")
    assert waited < SLOW_S
    # and the handler, which cannot be stopped, finishes in the background, its result dropped
    assert not finished.is_set()
    assert finished.wait(5)

    # Without the chaos, moto lets it run to the end
    finished.clear()
    answer = moto.client("lambda").invoke(FunctionName=name, Payload=b"{}")
    assert "FunctionError" not in answer
    assert json.loads(answer["Payload"].read()) == {"done": True}


def test_a_task_sees_sandbox_timedout_and_an_event_invocation_is_retried(moto: Moto) -> None:
    # Given a state machine whose task retries Lambda.Unknown and catches everything
    finished, calls = threading.Event(), Counter[str]()
    name = f"{PREFIX}-timeout-task"
    arn = _slow_function(moto, name, finished, calls)
    definition = {
        "StartAt": "Slow",
        "States": {
            "Slow": invoke(
                arn,
                Retry=[{"ErrorEquals": ["Lambda.Unknown"], "MaxAttempts": 3}],
                Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"}],
                End=True,
            ),
            "Caught": {"Type": "Pass", "End": True},
        },
    }

    # When it runs with the chaos enforcing timeouts
    with chaos("lambda_timeouts", time_scale=0.1):
        done = moto.run(definition, "timeout-task", {})

        # Then the task failed once with Sandbox.Timedout (not Lambda.Unknown: no retry)
        error = json.loads(done["output"])["error"]
        assert error["Error"] == "Sandbox.Timedout"
        assert json.loads(error["Cause"])["errorType"] == "Sandbox.Timedout"
        assert calls[name] == 1

        # And an asynchronous invocation that times out is run twice more, as Lambda does
        moto.client("lambda").invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")
        wait_for(lambda: calls[name] == 4, timeout_s=10, what="three attempts of the event")


def test_what_a_timed_out_handler_writes_afterwards_never_lands(moto: Moto) -> None:
    # Given this process's requests answered in-process (as the embedded runtime's are), a
    # table, and a function with a 1 s timeout that writes an item after its time is up
    patches.serve_in_process(moto.endpoint_url, patches.server_app(moto.server))
    try:
        session = boto3.session.Session()  # made after: it answers in-process
        ddb = session.client("dynamodb", endpoint_url=moto.endpoint_url, region_name=REGION)
        table = f"{PREFIX}-frozen"
        with contextlib.suppress(ddb.exceptions.ResourceInUseException):
            ddb.create_table(
                TableName=table,
                BillingMode="PAY_PER_REQUEST",
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            )
        ended = threading.Event()
        refused: list[str] = []

        def late_writer(event: dict[str, Any]) -> Any:
            time.sleep(SLOW_S)
            try:
                ddb.put_item(TableName=table, Item={"pk": {"S": event["key"]}})
            except ClientError as exc:
                refused.append(exc.response["Error"]["Code"])
            ended.set()
            return {}

        name = f"{PREFIX}-timeout-writer"
        moto.handlers[name] = late_writer
        moto.client("lambda").create_function(
            FunctionName=name,
            Runtime="python3.13",
            Role=moto.role_arn,
            Handler="handler.lambda_handler",
            Code={"ZipFile": b"not used"},
            Timeout=1,
        )
        lam = session.client("lambda", endpoint_url=moto.endpoint_url, region_name=REGION)

        # When it times out
        with chaos("lambda_timeouts", time_scale=0.1):
            lam.invoke(FunctionName=name, Payload=json.dumps({"key": "late"}).encode())
            assert ended.wait(5)

        # Then its write, made after Lambda would have frozen it, was refused
        assert refused == ["AccessDeniedException"]
        assert "Item" not in ddb.get_item(TableName=table, Key={"pk": {"S": "late"}})
        # while the same handler, in time, writes
        ended.clear()
        lam.invoke(FunctionName=name, Payload=json.dumps({"key": "in-time"}).encode())
        assert "Item" in ddb.get_item(TableName=table, Key={"pk": {"S": "in-time"}})
    finally:
        patches.stop_serving(moto.endpoint_url)
