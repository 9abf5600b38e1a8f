"""What every HTTP entry point (API Gateway REST proxy) does the same way."""

from __future__ import annotations

import base64
import json
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from fixloop.config import get_settings


def raw_body(event: APIGatewayProxyEvent) -> bytes:
    """The body exactly as the sender sent it: signatures cover these bytes."""
    raw = event.body or ""
    return base64.b64decode(raw) if event.is_base64_encoded else raw.encode()


def too_large(body: bytes) -> Response[str] | None:
    """413 for a body over ``max_message_bytes`` (checked before anything is parsed)."""
    limit = get_settings().max_message_bytes
    if len(body) > limit:
        return json_response(413, {"message": f"body is {len(body)} bytes; the limit is {limit}"})
    return None


def json_response(status: int, body: dict[str, Any]) -> Response[str]:
    return Response(status_code=status, content_type="application/json", body=json.dumps(body))
