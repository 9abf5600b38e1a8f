"""Aftercare: one step of the aftercare state machine (look for the deployment, verify)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from fixloop.aftercare import AftercareState, step
from fixloop.channels import announce
from fixloop.metrics import emits_metrics

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(clear_state=True)
@emits_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return step(AftercareState.model_validate(event), announce=announce).payload()
