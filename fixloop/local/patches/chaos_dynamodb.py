"""Chaos: DynamoDB throttles and transaction conflicts, which moto never produces.

AWS: DynamoDB throttles a request when a partition's key range, or an on-demand table that is
still scaling, cannot take it. An on-demand table (fixloop's are, in the CDK app and in the
embedded runtime) answers ``400 ThrottlingException`` "Throughput exceeds the current
capacity of your table or index. DynamoDB is automatically scaling your table or index so
please try again shortly...", with ``throttlingReasons`` naming the table and the kind of
limit (``TableWriteKeyRangeThroughputExceeded``...); the SDKs retry it (botocore's standard
mode, fixloop's: 5 attempts with exponential back-off from 1 s). ``TransactWriteItems`` is
not throttled that way: the whole transaction is cancelled, ``400
TransactionCanceledException``, with one ``CancellationReasons`` entry per item in request
order, ``ThrottlingError`` for the throttled item and ``None`` for the others; so is a
transaction that meets another one on an item (``TransactionConflict``, "Transaction is
ongoing for the item."). The SDK retries neither: the caller sees them.
(DynamoDB API reference: ThrottlingException, ThrottlingReason, TransactionCanceledException.)

moto applies every request. The chaos's gate on moto's server (:mod:`.chaos_requests`) asks
:func:`answer` about each request, so that, when ``FIXLOOP_CHAOS`` asks for it, a DynamoDB
data-plane request is answered as AWS would, before moto applies anything:

- ``dynamodb_throttle=RATE``: each attempt is throttled with that probability on its own, so
  the SDK's retries absorb a low rate;
- ``dynamodb_throttle_burst=RATE``: that share of calls (one SDK invocation, told by its
  ``amz-sdk-invocation-id`` header) is throttled on every attempt, so the caller gets the
  throttle after the SDK's retries;
- ``transaction_conflict=RATE``: that share of ``TransactWriteItems`` is cancelled with a
  ``TransactionConflict`` on one item.

botocore's back-off between throttled attempts
(``botocore.retries.standard.ExponentialBackoff.delay_amount``) is multiplied by
``FIXLOOP_CHAOS_TIME_SCALE`` while the chaos is on, so tests do not wait seconds per throttle.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import OrderedDict
from typing import Any, Final

from fixloop.local.patches import chaos
from fixloop.local.patches.internals import Replacement, internal, require, require_class

__all__ = ["answer", "replacements"]

_BACKOFF = "botocore.retries.standard"
_TARGET = "DynamoDB_20120810."
_ERROR_TYPE = "com.amazonaws.dynamodb.v20120810#"
_READS: Final = frozenset({"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"})
_WRITES: Final = frozenset(
    {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
)
_TRANSACTIONS: Final = frozenset({"TransactWriteItems", "TransactGetItems"})
THROTTLED_MESSAGE: Final = (
    "Throughput exceeds the current capacity of your table or index. DynamoDB is "
    "automatically scaling your table or index so please try again shortly. If exceptions "
    "persist, check if you have a hot key: "
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html."
)
CONFLICT_MESSAGE: Final = "Transaction is ongoing for the item."
_BURSTS_KEPT = 4096


class _Bursts:
    """Invocation ids whose every attempt is throttled (the most recent ones)."""

    def __init__(self) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, invocation: str) -> None:
        with self._lock:
            self._ids[invocation] = None
            while len(self._ids) > _BURSTS_KEPT:
                self._ids.popitem(last=False)

    def __contains__(self, invocation: object) -> bool:
        with self._lock:
            return invocation in self._ids


_bursts = _Bursts()


def replacements() -> list[Replacement]:
    backoff = require_class(_BACKOFF, "ExponentialBackoff", "delay_amount")
    original_delay = backoff.delay_amount

    def delay_amount(self: Any, context: Any) -> float:
        delay = float(original_delay(self, context))
        now = chaos.current()
        return delay * now.time_scale if now.on else delay

    return [Replacement(backoff, "delay_amount", delay_amount)]


def answer(environ: dict[str, Any]) -> Any:
    """The WSGI application answering ``environ``'s request with a fault, or None."""
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    if not target.startswith(_TARGET):
        return None
    fault = _fault(target[len(_TARGET) :], environ)
    return None if fault is None else _Answer(*fault)


class _Answer:
    """A WSGI application answering one DynamoDB error as AWS does."""

    def __init__(self, status: str, body: dict[str, Any]) -> None:
        self.status = status
        self.body = body

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response(
            self.status,
            [
                ("Content-Type", "application/x-amz-json-1.0"),
                ("x-amzn-RequestId", uuid.uuid4().hex.upper()),
            ],
        )
        return [json.dumps(self.body).encode()]


def _fault(operation: str, environ: dict[str, Any]) -> tuple[str, Any] | None:
    """AWS's answer to a request the chaos fails, or None to let moto answer it."""
    if operation not in _READS | _WRITES or chaos.spared():
        return None
    now = chaos.current()
    conflict = operation == "TransactWriteItems" and _chance_of("transaction_conflict", now)
    throttled = _throttled(environ, now)
    if not (conflict or throttled):
        return None
    request = _body(environ)
    if operation in _TRANSACTIONS:
        items = request.get("TransactItems") or [{}]
        reason = (
            {"Code": "TransactionConflict", "Message": CONFLICT_MESSAGE}
            if conflict
            else {"Code": "ThrottlingError", "Message": THROTTLED_MESSAGE}
        )
        at = chaos.pick("dynamodb_item", len(items))
        reasons = [reason if i == at else {"Code": "None"} for i in range(len(items))]
        codes = ", ".join(r["Code"] for r in reasons)
        return "400 Bad Request", {
            "__type": f"{_ERROR_TYPE}TransactionCanceledException",
            "Message": "Transaction cancelled, please refer cancellation reasons for specific "
            f"reasons [{codes}]",
            "CancellationReasons": reasons,
        }
    kind = "Read" if operation in _READS else "Write"
    table = _table_of(request)
    return "400 Bad Request", {
        "__type": f"{_ERROR_TYPE}ThrottlingException",
        "message": THROTTLED_MESSAGE,
        "throttlingReasons": [
            {
                "reason": f"Table{kind}KeyRangeThroughputExceeded",
                "resource": f"arn:aws:dynamodb:{_region(environ)}:{_account()}:table/{table}",
            }
        ],
    }


def _chance_of(fault: str, now: chaos.Chaos) -> bool:
    rate = float(getattr(now, fault))
    return rate > 0.0 and chaos.chance(fault, rate)


def _throttled(environ: dict[str, Any], now: chaos.Chaos) -> bool:
    if now.dynamodb_throttle_burst > 0.0:
        invocation = str(environ.get("HTTP_AMZ_SDK_INVOCATION_ID", "")) or uuid.uuid4().hex
        if invocation in _bursts:
            return True
        first = "attempt=1" in str(environ.get("HTTP_AMZ_SDK_REQUEST", "attempt=1"))
        if first and chaos.chance("dynamodb_throttle_burst", now.dynamodb_throttle_burst):
            _bursts.add(invocation)
            return True
    return _chance_of("dynamodb_throttle", now)


def _body(environ: dict[str, Any]) -> dict[str, Any]:
    """The request's JSON (read only when the request is answered here, not by moto)."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        parsed = json.loads(raw or b"{}")
    except (ValueError, KeyError, OSError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _table_of(request: dict[str, Any]) -> str:
    if "TableName" in request:
        return str(request["TableName"])
    for key in ("RequestItems",):
        if isinstance(request.get(key), dict) and request[key]:
            return str(next(iter(request[key])))
    return ""


def _account() -> str:
    """The account moto serves a request as (its default: the runtime's key is not one of
    moto's special ones)."""
    return str(require(internal("moto.core"), "DEFAULT_ACCOUNT_ID", "moto.core"))


def _region(environ: dict[str, Any]) -> str:
    """The region of the request's SigV4 credential scope (``KEY/date/region/service/...``)."""
    header = str(environ.get("HTTP_AUTHORIZATION", ""))
    scope = header.partition("Credential=")[2].split(",", 1)[0].split("/")
    return scope[2] if len(scope) > 2 else "us-east-1"
