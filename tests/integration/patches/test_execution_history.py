"""patches.execution_history: GetExecutionHistory pages as AWS does."""

from __future__ import annotations

from typing import Any

from tests.integration.patches.harness import Moto, check_paging


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
