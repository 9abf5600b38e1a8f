"""Mark Failed: record why the investigation failed."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from fixloop.agent.conclude import mark_failed
from fixloop.channels import announce
from fixloop.domain import LoopState
from fixloop.faults import injectable
from fixloop.metrics import INVESTIGATIONS_FAILED, count, emits_metrics

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(clear_state=True)
@emits_metrics
@tracer.capture_lambda_handler
@injectable("mark_failed")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = mark_failed(LoopState.model_validate(event), announce=announce).payload()
    count(INVESTIGATIONS_FAILED)
    return result
