"""Run Tool: run one tool call and write its result into the log."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from fixloop.agent.run_tool import run_tool
from fixloop.domain import ToolTask
from fixloop.faults import injectable
from fixloop.metrics import TOOL_CALLS, TOOL_FAILURES, count, emits_metrics

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(clear_state=True)
@emits_metrics
@tracer.capture_lambda_handler
@injectable("run_tool")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = run_tool(ToolTask.model_validate(event))
    if result.get("ran"):
        count(TOOL_CALLS)
        if result.get("is_error"):
            count(TOOL_FAILURES)
    return result
