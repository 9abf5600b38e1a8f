"""Conditional writes, one way: True when applied, False when their condition failed.

Every first-writer-wins write and every guarded transition in the stores goes through
:func:`applied`, so "the condition failed" is told apart from throttling (retried by the
state machine as :class:`~fixloop.errors.StorageThrottled`) and from any other failure in
one place. Transactions (:func:`transacted`) are cancelled as a whole: a cancellation is
"a condition failed" only when its reasons say so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from fixloop.errors import StorageThrottled

__all__ = ["answer_if_applied", "applied", "transacted"]

CONDITION_FAILED = "ConditionalCheckFailedException"
TRANSACTION_CANCELLED = "TransactionCanceledException"
THROTTLE_CODES = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
)


def applied(write: Callable[[], object]) -> bool:
    """Run a conditional write; False when its condition failed (nothing was written)."""
    return answer_if_applied(lambda: _answered(write())) is not None


def answer_if_applied(write: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
    """Run a conditional write and return DynamoDB's answer (``ReturnValues``); None when
    its condition failed."""
    try:
        return write()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == CONDITION_FAILED:
            return None
        if code in THROTTLE_CODES:
            raise StorageThrottled(f"DynamoDB throttled a write: {code}") from exc
        raise


def transacted(write: Callable[[], object]) -> bool:
    """Run a transaction of conditional writes; False when it was cancelled because one of
    its conditions failed (nothing was written)."""
    try:
        write()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == TRANSACTION_CANCELLED:
            return False
        if code in THROTTLE_CODES:
            raise StorageThrottled(f"DynamoDB throttled a transaction: {code}") from exc
        raise
    return True


def _answered(response: object) -> dict[str, Any]:
    return response if isinstance(response, dict) else {}
