"""Slack Events API (POST /webhooks/slack): verify, acknowledge at once, process asynchronously.

Slack wants an answer within 3 seconds. After the signature check the function invokes
itself asynchronously (``InvocationType=Event``) with the verified event and answers 200;
that second invocation stores the message and resumes or wakes the investigation. Lambda
retries a failed asynchronous invocation twice, and Slack's own retries carry the same
``event_id`` (deduplicated by the inbox).
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from fixloop import aws
from fixloop.channels.http import json_response, refuse_bad_requests, request_body
from fixloop.channels.slack import process, receive, signing_secret

logger = Logger()
tracer = Tracer()
app = APIGatewayRestResolver()
refuse_bad_requests(app)


@app.post("/webhooks/slack")
def slack_events() -> Response[str]:
    event = app.current_event
    body = request_body(event)
    request = receive(signing_secret(), dict(event.headers), body)
    if request.event is not None:
        aws.client("lambda").invoke(
            FunctionName=app.lambda_context.function_name,
            InvocationType="Event",
            Payload=json.dumps({"slack_event": request.event}).encode(),
        )
    logger.info("slack request", extra={"status": request.status})
    return json_response(request.status, request.body)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "slack_event" in event:  # the asynchronous half
        result = process(event["slack_event"])
        logger.info("slack event processed", extra={"result": result})
        return {"result": result}
    return app.resolve(event, context)
