"""Prepare: decide the next step of the loop (model turn, continue as new, or stop)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from fixloop.agent.prepare import prepare
from fixloop.channels import announce
from fixloop.domain import LoopState
from fixloop.faults import injectable

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@injectable("prepare")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return prepare(LoopState.model_validate(event), announce=announce).payload()
