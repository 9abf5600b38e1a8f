"""Reconcile: an investigation execution ended FAILED, TIMED_OUT or ABORTED (an EventBridge
"Step Functions Execution Status Change" event); close its investigation as failed if Mark
Failed did not (fixloop.agent.reconcile)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from fixloop.agent.reconcile import reconcile
from fixloop.channels import announce
from fixloop.metrics import INVESTIGATIONS_FAILED, count, emits_metrics

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(clear_state=True)
@emits_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = reconcile(event, announce=announce)
    logger.info("execution end reconciled", extra={"result": result})
    if result["reconciled"]:
        count(INVESTIGATIONS_FAILED)
    return result
