"""patches.execution_history: GetExecutionHistory pages as AWS does."""

from __future__ import annotations

import json
from typing import Any

from tests.integration.patches.harness import (
    PREFIX,
    BoomError,
    InjectedFault,
    Moto,
    check_paging,
    invoke,
)


def _counting_machine(steps: int) -> dict[str, Any]:
    states: dict[str, Any] = {
        f"Step {i}": {"Type": "Pass", "Result": i, "ResultPath": f"$.s{i}", "Next": f"Step {i + 1}"}
        for i in range(steps)
    }
    states[f"Step {steps}"] = {"Type": "Succeed"}
    return {"StartAt": "Step 0", "States": states}


def test_history_pages_with_aws_defaults_tokens_order_and_data_flag(moto: Moto) -> None:
    # Given a finished execution with a few dozen history events
    done = moto.run(_counting_machine(12), "history", {})
    assert done["status"] == "SUCCEEDED", done
    execution_arn = done["executionArn"]
    events = moto.history(execution_arn, PaginationConfig={"PageSize": 1000})
    assert len(events) > 20
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    # Then it pages as AWS does
    check_paging(moto, execution_arn, events)


def test_pages_are_written_as_moto_s_serializer_writes_them(moto: Moto) -> None:
    from moto.core.responses import ActionContext, ActionResult
    from moto.core.serialize import get_serializer_class
    from moto.core.utils import get_service_model
    from moto.stepfunctions.responses import StepFunctionResponse, get_backend

    from fixloop.local.patches import execution_history

    # Given an execution with Map iterations, a retried task, a caught failure and a Choice
    attempts: list[int] = []

    def work(event: dict[str, Any]) -> Any:
        return {"done": event}

    def flaky(event: dict[str, Any]) -> Any:
        attempts.append(1)
        if len(attempts) == 1:
            raise InjectedFault("once")
        if event.get("boom"):
            raise BoomError("caught")
        return {"ok": True}

    work_arn = moto.function(f"{PREFIX}-history-work", work)
    flaky_arn = moto.function(f"{PREFIX}-history-flaky", flaky)
    definition = {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "Work",
                    "States": {"Work": invoke(work_arn, End=True)},
                },
                "ResultPath": "$.mapped",
                "Next": "Flaky",
            },
            "Flaky": invoke(
                flaky_arn,
                Retry=[{"ErrorEquals": ["InjectedFault"], "IntervalSeconds": 1}],
                ResultPath="$.flaky",
                Next="Boom",
            ),
            "Boom": {
                "Type": "Task",
                "Resource": flaky_arn,
                "Parameters": {"boom": True},
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Is"}],
                "Next": "Is",
            },
            "Is": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.error", "IsPresent": True, "Next": "Done"}],
                "Default": "Done",
            },
            "Done": {"Type": "Succeed"},
        },
    }
    done = moto.run(definition, "history-shapes", {"items": [1, 2]})
    assert done["status"] == "SUCCEEDED", done
    # When its whole history is written both ways
    backend = get_backend(done["executionArn"].split(":")[4], "us-east-1")
    events, _, _ = execution_history._history_page(
        backend, done["executionArn"], lambda total: (0, total)
    )
    service = get_service_model("stepfunctions")
    operation = service.operation_model("GetExecutionHistory")
    context = ActionContext(
        service, operation, get_serializer_class("stepfunctions", "json"), StepFunctionResponse()
    )
    _, _, by_moto = ActionResult({"events": events, "nextToken": "t"}).execute_result(context)
    fast = execution_history.encode({"events": events, "nextToken": "t"}, operation.output_shape)
    # Then the JSON is the same
    assert len(events) > 30
    assert {e["type"] for e in events} >= {
        "MapIterationStarted",
        "TaskFailed",
        "ChoiceStateEntered",
    }
    assert json.loads(json.dumps(fast)) == json.loads(by_moto)
