"""Deliver: record the outcome of the concluding turn and close the investigation."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from fixloop.agent.conclude import deliver
from fixloop.channels import announce
from fixloop.domain import LoopState
from fixloop.faults import injectable
from fixloop.metrics import INVESTIGATIONS_CONCLUDED, count, emits_metrics

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(clear_state=True)
@emits_metrics
@tracer.capture_lambda_handler
@injectable("deliver")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = deliver(LoopState.model_validate(event), announce=announce).payload()
    count(INVESTIGATIONS_CONCLUDED)
    return result
