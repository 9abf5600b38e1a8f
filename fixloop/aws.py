"""Cached boto3 clients, built on first use, never at import time.

Every client honours the standard ``AWS_ENDPOINT_URL`` (and per-service
``AWS_ENDPOINT_URL_<SERVICE>``) settings that boto3 reads itself: that one setting points
everything at a local AWS (the embedded runtime sets it; a LocalStack works the same way).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5})


@cache
def client(service: str) -> Any:
    return boto3.session.Session().client(service, config=_CONFIG)


@cache
def resource(service: str) -> Any:
    return boto3.session.Session().resource(service, config=_CONFIG)


def reset_clients() -> None:
    """Forget cached clients (after the endpoint or credentials change, e.g. in tests)."""
    client.cache_clear()
    resource.cache_clear()
