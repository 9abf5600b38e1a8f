"""patches.service_integrations: integration parameters and results, from botocore models."""

from __future__ import annotations

import json

from tests.integration.patches.harness import PREFIX, Moto


def test_start_execution_parameters_arrive_and_its_result_is_pascal_case(moto: Moto) -> None:
    # Given a machine that starts itself once as a child, with PascalCase Parameters
    definition = {
        "StartAt": "Is Child",
        "States": {
            "Is Child": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.child", "BooleanEquals": True, "Next": "Done"}],
                "Default": "Spawn",
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
            "Done": {"Type": "Succeed"},
        },
    }
    sm = moto.state_machine(f"{PREFIX}-spawner", definition)
    # When it runs
    parent = moto.start(sm, "spawner-1", {"n": 3, "child_name": "child-of-spawner-1"})
    done = moto.wait(parent)
    # Then states:startExecution got its parameters and answered with the documented result
    assert done["status"] == "SUCCEEDED", done
    started = json.loads(done["output"])["started"]
    assert set(started) == {"ExecutionArn", "StartDate"}
    assert isinstance(started["StartDate"], str)  # state data is JSON
    child_arn = started["ExecutionArn"]
    assert child_arn == parent.replace(":spawner-1", ":child-of-spawner-1")
    child = moto.wait(child_arn)
    assert child["status"] == "SUCCEEDED"
    assert child["stateMachineArn"] == sm
    assert json.loads(child["input"]) == {
        "child": True,
        "n": 3,
        "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID": parent,
    }
