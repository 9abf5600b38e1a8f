"""patches.lambda_invoke: Lambda Invoke runs the handler in-process, errors as Lambda's."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.integration.patches.harness import PREFIX, BoomError, Moto, invoke


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


def test_a_raised_exception_is_caught_on_its_class_name(moto: Moto) -> None:
    # Given a function that raises, called as lambda:invoke and as a plain function ARN task
    def boom(event: dict[str, Any]) -> Any:
        raise BoomError(f"boom {event['n']}")

    arn = moto.function(f"{PREFIX}-catch-boom", boom)
    definition = {
        "StartAt": "Explode",
        "States": {
            "Explode": invoke(
                arn,
                Catch=[
                    {"ErrorEquals": ["NotThisOne"], "ResultPath": "$.wrong", "Next": "Done"},
                    {"ErrorEquals": ["BoomError"], "ResultPath": "$.caught", "Next": "Plain"},
                ],
                Next="Done",
            ),
            "Plain": {
                "Type": "Task",
                "Resource": arn,
                "Catch": [
                    {"ErrorEquals": ["BoomError"], "ResultPath": "$.caught_plain", "Next": "Done"}
                ],
                "Next": "Done",
            },
            "Done": {"Type": "Succeed"},
        },
    }
    # When it runs
    done = moto.run(definition, "catch", {"n": 1})
    # Then each Catch matched the exception's class name, with Lambda's error as the cause
    assert done["status"] == "SUCCEEDED", done
    output = json.loads(done["output"])
    assert output["caught"]["Error"] == "BoomError"
    assert json.loads(output["caught"]["Cause"])["errorMessage"] == "boom 1"
    assert output["caught_plain"]["Error"] == "BoomError"
    assert "wrong" not in output
