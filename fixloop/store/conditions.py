"""Conditional writes, one way: True when applied, False when their condition failed.

Every first-writer-wins write and every guarded transition in the stores goes through
:func:`applied`, so "the condition failed" is told apart from throttling (retried by the
state machine as :class:`~fixloop.errors.StorageThrottled`) and from any other failure in
one place. Transactions (:func:`transacted`) are cancelled as a whole: a cancellation is
"a condition failed" only when its reasons say so. DynamoDB lists one reason per item, in the
order of the request, ``None`` for an item that was fine; a transaction is also cancelled
when another one holds an item (``TransactionConflict``) or an on-demand table is scaling
(``ThrottlingError``), and the SDK retries neither. Those are transient
(:class:`~fixloop.errors.StorageConflict`, :class:`~fixloop.errors.StorageThrottled`), so
the caller's retry writes what was not written, instead of taking it for a duplicate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from fixloop.aws import DYNAMODB_THROTTLES
from fixloop.errors import StorageConflict, StorageThrottled

__all__ = ["answer_if_applied", "applied", "transacted"]

CONDITION_FAILED = "ConditionalCheckFailedException"
TRANSACTION_CANCELLED = "TransactionCanceledException"
THROTTLE_CODES = DYNAMODB_THROTTLES
CONDITION_FAILED_REASON = "ConditionalCheckFailed"
CONFLICT_REASONS = frozenset({"TransactionConflict"})
THROTTLE_REASONS = frozenset({"ThrottlingError", "ProvisionedThroughputExceeded"})


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
    """Run a transaction of conditional writes; False when it was cancelled because its
    conditions failed (every item with a reason failed its condition: nothing was written).

    Raises :class:`StorageConflict` when a concurrent transaction held one of its items and
    :class:`StorageThrottled` when it was throttled (nothing was written either: a retry
    writes it); any other cancellation (a validation error, an item collection too large)
    is raised as it is."""
    try:
        write()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == TRANSACTION_CANCELLED:
            reasons = _reasons(exc.response)
            if reasons <= {CONDITION_FAILED_REASON}:
                return False
            if reasons & CONFLICT_REASONS:
                raise StorageConflict(_cancelled(reasons)) from exc
            if reasons & THROTTLE_REASONS:
                raise StorageThrottled(_cancelled(reasons)) from exc
            raise
        if code in THROTTLE_CODES:
            raise StorageThrottled(f"DynamoDB throttled a transaction: {code}") from exc
        raise
    return True


def _reasons(response: dict[str, Any]) -> set[str]:
    """The codes of a cancelled transaction's reasons, ``None`` (an item that was fine)
    left out."""
    listed = response.get("CancellationReasons") or []
    return {str(r.get("Code")) for r in listed if r.get("Code") not in (None, "None")}


def _cancelled(reasons: set[str]) -> str:
    return f"DynamoDB cancelled a transaction: {', '.join(sorted(reasons))}"


def _answered(response: object) -> dict[str, Any]:
    return response if isinstance(response, dict) else {}
