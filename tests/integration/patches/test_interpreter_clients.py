"""patches.interpreter_clients: the interpreter's own calls reach the server running it."""

from __future__ import annotations

import json
from typing import Any

from tests.integration.patches.harness import PREFIX, Moto, invoke


def test_tasks_reach_the_server_running_the_execution_with_cached_clients(moto: Moto) -> None:
    from moto.stepfunctions.parser.asl.utils import boto_client

    # Given a two-task machine on a server that is not at moto's default port
    assert not moto.endpoint_url.endswith(":5000")
    seen: list[dict[str, Any]] = []

    def step(event: dict[str, Any]) -> Any:
        seen.append(event)
        return {"n": event["n"] + 1}

    arn = moto.function(f"{PREFIX}-clients-step", step)
    definition = {
        "StartAt": "One",
        "States": {
            "One": invoke(arn, OutputPath="$.Payload", Next="Two"),
            "Two": invoke(arn, OutputPath="$.Payload", End=True),
        },
    }
    # When it runs
    done = moto.run(definition, "clients", {"n": 0})
    # Then both Lambda tasks reached this server's functions
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"]) == {"n": 2}
    assert seen == [{"n": 0}, {"n": 1}]
    # and the interpreter reuses one client per service, aimed at this server
    first = boto_client.boto_client_for(region="us-east-1", service="lambda")
    assert boto_client.boto_client_for(region="us-east-1", service="lambda") is first
    assert first.meta.endpoint_url == moto.endpoint_url
