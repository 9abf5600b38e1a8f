"""patches.execution_events: an execution's end is told as Step Functions' "Execution Status
Change" event (moto sends none)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from fixloop.local import patches
from tests.integration.patches.harness import Moto
from tests.support import wait_for


@pytest.fixture
def ends() -> Iterator[list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []
    previous = patches.set_execution_listener(seen.append)
    yield seen
    patches.set_execution_listener(previous)


def test_each_end_is_told_in_the_documented_shape(moto: Moto, ends: list[dict[str, Any]]) -> None:
    # Given a machine that fails and one that succeeds
    failing = moto.state_machine(
        "mp-events-fail",
        {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Boom", "Cause": "why"}}},
    )
    passing = moto.state_machine(
        "mp-events-pass", {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    )

    # When each runs once
    failed_arn = moto.start(failing, "fails", {"investigation_id": "x"})
    passed_arn = moto.start(passing, "passes", {"n": 1})
    moto.wait(failed_arn)
    moto.wait(passed_arn)
    wait_for(lambda: len(ends) >= 2, timeout_s=5, what="two status changes")

    # Then each end came as EventBridge delivers Step Functions' status changes
    by_arn = {e["detail"]["executionArn"]: e for e in ends}
    failed = by_arn[failed_arn]
    assert failed["source"] == "aws.states"
    assert failed["detail-type"] == "Step Functions Execution Status Change"
    assert failed["resources"] == [failed_arn]
    assert (failed["account"], failed["region"]) == ("123456789012", "us-east-1")
    detail = failed["detail"]
    assert detail["stateMachineArn"] == failing
    assert detail["name"] == "fails"
    assert detail["status"] == "FAILED"
    assert (detail["error"], detail["cause"]) == ("Boom", "why")
    assert json.loads(detail["input"]) == {"investigation_id": "x"}
    assert detail["output"] is None
    assert detail["startDate"] <= detail["stopDate"]
    passed = by_arn[passed_arn]["detail"]
    assert passed["status"] == "SUCCEEDED"
    assert json.loads(passed["output"]) == {"n": 1}
    assert passed["error"] is None
