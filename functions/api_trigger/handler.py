"""API Trigger: POST /signals (IAM-authenticated) with a signal as its JSON body."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from fixloop.channels.http import refuse_bad_requests, request_body
from fixloop.config import get_settings
from fixloop.domain.payloads import parse_json
from fixloop.errors import BadInputError
from fixloop.intake.triggers import handle_payload
from fixloop.metrics import emits_metrics

logger = Logger()
tracer = Tracer()
app = APIGatewayRestResolver()
refuse_bad_requests(app)


@app.post("/signals")
def signals() -> Response[str]:
    body = request_body(app.current_event, limit=get_settings().max_signal_bytes)
    try:
        payload = parse_json(body, what="the body")
    except BadInputError as exc:
        return _reply(400, {"refused": str(exc)})
    result = handle_payload(payload)
    return _reply(400 if result.refused else 202, result.as_json())


def _reply(status: int, body: dict[str, Any]) -> Response[str]:
    return Response(status_code=status, content_type="application/json", body=json.dumps(body))


@logger.inject_lambda_context(clear_state=True)
@emits_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
