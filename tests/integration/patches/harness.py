"""A moto server on loopback with fixloop.local.patches borrowed, for the patch tests.

Lambda functions are small Python functions routed by the patches. Every name starts with
``PREFIX``: moto's backends are shared process-wide with any embedded runtime of the worker.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from fixloop.local import patches

REGION = "us-east-1"
PREFIX = "mp"

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
    dispatch: patches.Dispatch
    server: Any = None
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
            Code={"ZipFile": b"not used: the patches dispatch in-process"},
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

    def run(self, definition: dict[str, Any], name: str, payload: dict[str, Any]) -> Any:
        """Create ``definition`` as state machine ``{PREFIX}-{name}``, run it once, and
        return the finished execution (``describe_execution``)."""
        arn = self.state_machine(f"{PREFIX}-{name}", definition)
        return self.wait(self.start(arn, f"{name}-1", payload))

    def history(self, execution_arn: str, **kwargs: Any) -> list[dict[str, Any]]:
        pages = self.client("stepfunctions").get_paginator("get_execution_history")
        return [
            e for p in pages.paginate(executionArn=execution_arn, **kwargs) for e in p["events"]
        ]


def invoke(arn: str, **extra: Any) -> dict[str, Any]:
    """An ``arn:aws:states:::lambda:invoke`` task passing the state input as the payload."""
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": arn, "Payload.$": "$"},
        **extra,
    }


def check_paging(moto: Moto, execution_arn: str, events: list[dict[str, Any]]) -> None:
    """What GetExecutionHistory answers for ``execution_arn``, whose history is ``events``:
    AWS's paging, order, data flag, default page and token check."""
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
