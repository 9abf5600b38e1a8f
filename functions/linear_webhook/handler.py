"""Linear webhooks (POST /webhooks/linear): comments on an investigation's issue."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from fixloop.channels.http import json_response, refuse_bad_requests, request_body
from fixloop.channels.linear import handle_webhook, webhook_secret

logger = Logger()
tracer = Tracer()
app = APIGatewayRestResolver()
refuse_bad_requests(app)


@app.post("/webhooks/linear")
def linear() -> Response[str]:
    event = app.current_event
    body = request_body(event)
    result = handle_webhook(webhook_secret(), dict(event.headers), body)
    logger.info("linear webhook", extra={"status": result.status, "result": result.message})
    return json_response(result.status, {"message": result.message})


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
