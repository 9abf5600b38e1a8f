"""GitHub webhooks (API Gateway POST /webhooks/github): review feedback, merge and close."""

from __future__ import annotations

import base64
import json
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from fixloop.channels.github import handle_webhook, webhook_secret
from fixloop.metrics import emits_metrics

logger = Logger()
tracer = Tracer()
app = APIGatewayRestResolver()


@app.post("/webhooks/github")
def github() -> Response[str]:
    event = app.current_event
    raw = event.body or ""
    # The signature covers the exact bytes GitHub sent.
    body = base64.b64decode(raw) if event.is_base64_encoded else raw.encode()
    result = handle_webhook(webhook_secret(), dict(event.headers), body)
    logger.info("github webhook", extra={"status": result.status, "result": result.message})
    return Response(
        status_code=result.status,
        content_type="application/json",
        body=json.dumps({"message": result.message}),
    )


@logger.inject_lambda_context(clear_state=True)
@emits_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
