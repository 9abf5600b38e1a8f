"""Signal Trigger: a CloudWatch alarm going into ALARM (an EventBridge "CloudWatch Alarm State
Change" event) or error lines of a log group (a CloudWatch Logs subscription delivery, base64
gzip) -> investigations. One function for both sources: handle_payload tells them apart."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from fixloop.intake.triggers import handle_payload
from fixloop.metrics import emits_metrics

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(clear_state=True)
@emits_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle_payload(event).as_json()
