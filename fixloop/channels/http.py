"""What every HTTP entry point (API Gateway REST proxy) does the same way: read the body
within the size limit, answer JSON, turn refusals into 4xx answers and a transient failure
(a throttled or conflicting write of the message, nothing stored) into a 503 the sender
retries."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from fixloop.config import get_settings
from fixloop.errors import BadInputError, FixloopError, TransientError

__all__ = ["BodyTooLarge", "json_response", "refuse_bad_requests", "request_body"]

logger = Logger(child=True)
RETRY_AFTER_SECONDS = 1


class BodyTooLarge(FixloopError):
    """The request body is over ``max_message_bytes`` (answered 413). An HTTP refusal, never
    raised across a Lambda boundary to the state machine."""


def request_body(event: APIGatewayProxyEvent, *, limit: int | None = None) -> bytes:
    """The body exactly as the sender sent it (signatures cover these bytes), refused when
    it is over ``limit`` (default ``max_message_bytes``): by its declared length before it
    is decoded, and by its decoded length."""
    limit = limit or get_settings().max_message_bytes
    declared = {k.lower(): v for k, v in (event.headers or {}).items()}.get("content-length", "")
    numeric = declared.isascii() and declared.isdigit()
    if numeric and (len(declared) > 15 or int(declared) > limit):
        raise BodyTooLarge(f"body is {declared[:16]} bytes; the limit is {limit}")
    raw = event.body or ""
    # base64 takes 4 characters per 3 bytes: a longer text cannot decode to the limit.
    if len(raw) > (limit + 2) // 3 * 4 + 4:
        raise BodyTooLarge(f"body is over {limit} bytes; the limit is {limit}")
    try:
        body = base64.b64decode(raw, validate=True) if event.is_base64_encoded else raw.encode()
    except (binascii.Error, ValueError) as exc:
        raise BadInputError(f"body is not valid base64: {exc}") from exc
    if len(body) > limit:
        raise BodyTooLarge(f"body is {len(body)} bytes; the limit is {limit}")
    return body


def json_response(status: int, body: dict[str, Any]) -> Response[str]:
    return Response(status_code=status, content_type="application/json", body=json.dumps(body))


def refuse_bad_requests(app: APIGatewayRestResolver) -> None:
    """Answer a body over the limit 413 and other bad input 400, with the reason, and a
    transient failure 503 with ``Retry-After`` (every channel delivers again on a 5xx, and
    the inbox stores a redelivery once)."""
    app.exception_handler(BodyTooLarge)(_too_large)
    app.exception_handler(BadInputError)(_bad_input)
    app.exception_handler(TransientError)(_unavailable)


def _too_large(exc: BodyTooLarge) -> Response[str]:
    return json_response(413, {"message": str(exc)})


def _bad_input(exc: BadInputError) -> Response[str]:
    return json_response(400, {"message": str(exc)})


def _unavailable(exc: TransientError) -> Response[str]:
    logger.warning("transient failure: the sender will deliver again", extra={"error": str(exc)})
    return Response(
        status_code=503,
        content_type="application/json",
        body=json.dumps({"message": f"try again: {exc}"}),
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )
