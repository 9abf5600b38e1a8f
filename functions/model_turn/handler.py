"""Model Turn: rebuild the prompt from the log, call the model, append the assistant message."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from fixloop.agent.turn import model_turn
from fixloop.domain import TurnTask
from fixloop.errors import ModelError, ModelThrottled, ModelUnavailable
from fixloop.faults import injectable
from fixloop.metrics import MODEL_ERRORS, MODEL_THROTTLES, count, emits_metrics

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(clear_state=True)
@emits_metrics
@tracer.capture_lambda_handler
@injectable("model_turn")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    task = TurnTask.model_validate(event)
    try:
        return model_turn(task.state, attempt=task.attempt).payload()
    except ModelThrottled:
        count(MODEL_THROTTLES)
        raise
    except (ModelError, ModelUnavailable):
        count(MODEL_ERRORS)
        raise
