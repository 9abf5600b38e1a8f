"""Cached boto3 clients, built on first use, never at import time.

Every client honours the standard ``AWS_ENDPOINT_URL`` (and per-service
``AWS_ENDPOINT_URL_<SERVICE>``) settings that boto3 reads itself: that one setting points
everything at a local AWS (the embedded runtime sets it; a LocalStack works the same way).

The clients of a process share one botocore session, so the service and endpoint models are
parsed once instead of once per client (about 40 ms each); it is built under a lock, as
botocore sessions are not safe to share while clients are being created.

DynamoDB's throttles are retried by the SDK (standard mode: ``max_attempts`` 5 retries after
the first attempt, with back-off); one that outlasts them is raised as
:class:`~fixloop.errors.StorageThrottled`, whichever call met it, so the state machine retries
the step with the back-off it gives transient errors rather than as an unknown error.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

import boto3
from botocore.config import Config

from fixloop.errors import StorageThrottled

DYNAMODB_THROTTLES = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
)
"""The codes DynamoDB throttles with (the SDK retries each)."""
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5})
_lock = threading.Lock()


@cache
def _session() -> boto3.session.Session:
    session = boto3.session.Session()
    session.events.register("after-call.dynamodb", _raise_throttled)
    return session


def _raise_throttled(http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
    """After the SDK's retries: a DynamoDB throttle is :class:`StorageThrottled`."""
    if http_response is None or http_response.status_code < 400:
        return
    code = (parsed.get("Error") or {}).get("Code")
    if code in DYNAMODB_THROTTLES:
        raise StorageThrottled(f"DynamoDB throttled {model.name} after the SDK's retries: {code}")


@cache
def client(service: str) -> Any:
    with _lock:
        return _session().client(service, config=_CONFIG)


@cache
def presigner() -> Any:
    """The S3 client that signs URLs handed to sandboxes: Signature Version 4 (SSE-KMS
    objects accept no other) on the bucket's regional virtual host, the one name the sandbox's
    DNS allow-list resolves for S3 (a custom ``AWS_ENDPOINT_URL`` keeps path style)."""
    with _lock:
        return _session().client(
            "s3",
            config=_CONFIG.merge(
                Config(signature_version="s3v4", s3={"addressing_style": "virtual"})
            ),
        )


@cache
def resource(service: str) -> Any:
    with _lock:
        return _session().resource(service, config=_CONFIG)


def reset_clients() -> None:
    """Forget cached clients and their session (after the endpoint or credentials change, e.g.
    in tests): the next ones read the environment again."""
    client.cache_clear()
    presigner.cache_clear()
    resource.cache_clear()
    _session.cache_clear()
