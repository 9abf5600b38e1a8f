"""REST (IAM-authorized): GET /investigations/{id}, POST /investigations/{id}/messages,
GET /stats."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from fixloop.channels import rest
from fixloop.channels.http import json_response, refuse_bad_requests, request_body

logger = Logger()
tracer = Tracer()
app = APIGatewayRestResolver()
refuse_bad_requests(app)


@app.get("/investigations/<investigation_id>")
def get_investigation(investigation_id: str) -> Response[str]:
    query = app.current_event.query_string_parameters or {}
    limit = query.get("limit", "")
    status, body = rest.read(
        investigation_id,
        after=query.get("after") or None,
        limit=int(limit) if limit.isascii() and limit.isdigit() and len(limit) <= 6 else 100,
    )
    return json_response(status, body)


@app.post("/investigations/<investigation_id>/messages")
def post_message(investigation_id: str) -> Response[str]:
    event = app.current_event
    body = request_body(event)
    identity = event.request_context.identity
    status, answer = rest.post(
        investigation_id,
        body,
        caller=identity.user_arn or identity.caller or "api",
        request_id=event.request_context.request_id or "",
    )
    logger.info("message posted", extra={"status": status, "investigation": investigation_id})
    return json_response(status, answer)


@app.get("/stats")
def get_stats() -> Response[str]:
    status, body = rest.stats()
    return json_response(status, body)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
