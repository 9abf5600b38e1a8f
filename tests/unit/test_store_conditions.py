"""Conditional writes: a failed condition is False, throttling is retried by the state
machine, anything else is raised as it is."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from fixloop.errors import StorageConflict, StorageThrottled
from fixloop.store.conditions import answer_if_applied, applied, transacted


def _raises(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "PutItem")


def _fail(code: str) -> object:
    raise _raises(code)


def _cancelled(*codes: str) -> object:
    """A TransactionCanceledException as botocore parses it: one reason per item."""
    reasons = [{"Code": c, "Message": c} if c != "None" else {"Code": "None"} for c in codes]
    raise ClientError(
        {
            "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
            "CancellationReasons": reasons,
        },
        "TransactWriteItems",
    )


def test_applied_tells_a_failed_condition_from_other_failures() -> None:
    assert applied(lambda: {"ok": True}) is True
    assert applied(lambda: _fail("ConditionalCheckFailedException")) is False
    with pytest.raises(StorageThrottled, match="ProvisionedThroughputExceededException"):
        applied(lambda: _fail("ProvisionedThroughputExceededException"))
    with pytest.raises(ClientError, match="ValidationException"):
        applied(lambda: _fail("ValidationException"))


def test_answer_if_applied_returns_what_dynamodb_answered() -> None:
    assert answer_if_applied(lambda: {"Attributes": {"pk": "a"}}) == {"Attributes": {"pk": "a"}}
    assert answer_if_applied(lambda: _fail("ConditionalCheckFailedException")) is None  # type: ignore[arg-type,return-value]


def test_transacted_is_false_when_the_transaction_is_cancelled() -> None:
    assert transacted(lambda: {}) is True
    assert transacted(lambda: _fail("TransactionCanceledException")) is False
    with pytest.raises(StorageThrottled):
        transacted(lambda: _fail("ThrottlingException"))


def test_only_a_cancellation_by_failed_conditions_is_false() -> None:
    # Given cancellations whose reasons are failed conditions (and items that were fine)
    assert transacted(lambda: _cancelled("ConditionalCheckFailed", "None")) is False
    assert (
        transacted(lambda: _cancelled("ConditionalCheckFailed", "ConditionalCheckFailed")) is False
    )

    # When another transaction held an item, or the table was scaling: transient, so a retry
    # writes what was not written (instead of taking it for a duplicate)
    with pytest.raises(StorageConflict, match="TransactionConflict"):
        transacted(lambda: _cancelled("None", "TransactionConflict"))
    with pytest.raises(StorageConflict):
        transacted(lambda: _cancelled("ConditionalCheckFailed", "TransactionConflict"))
    with pytest.raises(StorageThrottled, match="ThrottlingError"):
        transacted(lambda: _cancelled("ThrottlingError", "None"))
    with pytest.raises(StorageThrottled):
        transacted(lambda: _cancelled("None", "ProvisionedThroughputExceeded"))

    # And any other reason is raised as it is
    with pytest.raises(ClientError, match="TransactionCanceledException"):
        transacted(lambda: _cancelled("ValidationError", "None"))
