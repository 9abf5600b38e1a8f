"""MCP over streamable HTTP behind API Gateway (HTTP API): the ASGI app run by Mangum.

The app is stateless (JSON responses, no session kept between requests), so each invocation
builds it and runs its lifespan (the session manager) around the one request it serves.
"""

from __future__ import annotations

from typing import Any, cast

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from mangum import Mangum

from fixloop.live.mcp_server import mcp_app

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    app, _ = mcp_app(path="/mcp")
    # Starlette's and Mangum's ASGI / context protocols are the same shapes under other names.
    adapter: Any = Mangum(cast(Any, app), lifespan="on")
    response: dict[str, Any] = adapter(event, context)
    return response
