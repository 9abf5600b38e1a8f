"""patches.chaos_states_runtime: a missing Choice path is States.Runtime, and States.ALL catches
neither it nor any other States.Runtime (moto falls through to Default, and catches)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from fixloop.local.patches.chaos_states_runtime import missing_path_cause
from tests.integration.patches.harness import PREFIX, Moto, invoke
from tests.support import chaos

CATCH_ALL = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"}]


def _choice(variable: str, **test: Any) -> dict[str, Any]:
    return {
        "StartAt": "Route",
        "States": {
            "Route": {
                "Type": "Choice",
                "Choices": [{"Variable": variable, **test, "Next": "Matched"}],
                "Default": "Default",
            },
            "Matched": {"Type": "Pass", "Result": {"to": "matched"}, "End": True},
            "Default": {"Type": "Pass", "Result": {"to": "default"}, "End": True},
        },
    }


def test_a_missing_choice_path_fails_the_execution(moto: Moto) -> None:
    # Given a Choice on $.action, and an input without it
    # When it runs with AWS's behaviour
    with chaos("missing_path_runtime"):
        failed = moto.run(_choice("$.action", StringEquals="tools"), "missing-choice", {})
        present = moto.run(_choice("$.action", IsPresent=False), "missing-present", {})
        found = moto.run(
            _choice("$.action", StringEquals="tools"), "found-choice", {"action": "tools"}
        )

    # Then the execution fails with States.Runtime and AWS's cause
    assert failed["status"] == "FAILED"
    assert failed["error"] == "States.Runtime"
    assert failed["cause"].endswith(missing_path_cause("$.action"))
    # while IsPresent may test a missing path, and a path that is there is compared
    assert json.loads(present["output"]) == {"to": "matched"}
    assert json.loads(found["output"]) == {"to": "matched"}
    # Without the chaos, moto falls through to Default
    kind = moto.run(_choice("$.action", StringEquals="tools"), "missing-moto", {})
    assert json.loads(kind["output"]) == {"to": "default"}


@pytest.mark.parametrize("aws", [True, False], ids=["missing_path_runtime", "moto"])
def test_states_all_catches_and_retries_no_states_runtime(moto: Moto, aws: bool) -> None:
    # Given a task whose result has no $.Payload.action (ResultSelector needs it), retried and
    # caught on States.ALL, and a Map whose iterations route on a missing path
    calls: Counter[str] = Counter()

    def empty(event: dict[str, Any]) -> Any:
        calls["empty"] += 1
        return {}

    arn = moto.function(f"{PREFIX}-runtime-empty-{aws}", empty)
    task = {
        "StartAt": "Turn",
        "States": {
            "Turn": invoke(
                arn,
                ResultSelector={"action.$": "$.Payload.action"},
                Retry=[{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2}],
                Catch=CATCH_ALL,
                End=True,
            ),
            "Caught": {"Type": "Pass", "End": True},
        },
    }
    route = _choice("$.runs_in", StringEquals="sandbox")
    mapped = {
        "StartAt": "Tools",
        "States": {
            "Tools": {
                "Type": "Map",
                "ItemsPath": "$.calls",
                "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, **route},
                "Catch": CATCH_ALL,
                "End": True,
            },
            "Caught": {"Type": "Pass", "End": True},
        },
    }

    # When both run
    with chaos("missing_path_runtime" if aws else ""):
        task_done = moto.run(task, f"runtime-task-{aws}", {})
        map_done = moto.run(mapped, f"runtime-map-{aws}", {"calls": [{"id": "a"}]})

    if aws:
        # Then States.Runtime is neither retried nor caught: both executions fail
        assert (task_done["status"], task_done["error"]) == ("FAILED", "States.Runtime")
        assert calls["empty"] == 1
        assert (map_done["status"], map_done["error"]) == ("FAILED", "States.Runtime")
    else:
        # whereas moto retries it twice and catches it (and routes the iteration to Default)
        assert json.loads(task_done["output"])["error"]["Error"] == "States.Runtime"
        assert calls["empty"] == 3
        assert map_done["status"] == "SUCCEEDED"
