"""Dispatch Tool: hand a code tool call and its task token to the investigation's sandbox."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from fixloop.faults import injectable
from fixloop.sandbox.dispatch import DispatchTask, dispatch_tool

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@injectable("dispatch_tool")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return dispatch_tool(DispatchTask.model_validate(event))
