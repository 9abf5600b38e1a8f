"""Posting to WebSocket connections through the API Gateway Management API."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from fixloop.config import get_settings

__all__ = ["Gateway", "gateway"]

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2)


class Gateway:
    """``post_to_connection`` with GoneException turned into ``False``."""

    def __init__(self, endpoint_url: str) -> None:
        self.endpoint_url = endpoint_url
        self._client: Any = boto3.session.Session().client(
            "apigatewaymanagementapi", endpoint_url=endpoint_url, config=_CONFIG
        )

    def post(self, connection_id: str, data: str) -> bool:
        """Send one message; False if the connection is gone (the caller forgets it)."""
        try:
            self._client.post_to_connection(ConnectionId=connection_id, Data=data.encode())
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "GoneException":
                return False
            raise
        return True

    def post_all(self, connection_id: str, messages: list[str]) -> bool:
        return all(self.post(connection_id, m) for m in messages)


@cache
def _gateway(endpoint_url: str) -> Gateway:
    return Gateway(endpoint_url)


def gateway(request_context: dict[str, Any] | None = None) -> Gateway:
    """The configured endpoint, else the one of the API that sent ``request_context``."""
    url = get_settings().websocket_management_url
    if not url and request_context:
        url = f"https://{request_context['domainName']}/{request_context['stage']}"
    if not url:
        raise RuntimeError("FIXLOOP_WEBSOCKET_MANAGEMENT_URL is not set")
    return _gateway(url)


def reset() -> None:
    """Forget cached clients (the embedded runtime's endpoint changes between tests)."""
    _gateway.cache_clear()
