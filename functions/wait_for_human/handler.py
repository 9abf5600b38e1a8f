"""Wait For Human (register the question's task token) and Park Unanswered (its time-out)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from fixloop.channels import announce
from fixloop.conversation import WaitTask, open_wait, park_unanswered
from fixloop.faults import injectable

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@injectable("wait_for_human")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    task = WaitTask.model_validate(event)
    if task.timed_out:
        return park_unanswered(task, announce=announce)
    return open_wait(task, announce=announce)
