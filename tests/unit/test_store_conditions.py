"""Conditional writes: a failed condition is False, throttling is retried by the state
machine, anything else is raised as it is."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from fixloop.errors import StorageThrottled
from fixloop.store.conditions import answer_if_applied, applied, transacted


def _raises(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "PutItem")


def _fail(code: str) -> object:
    raise _raises(code)


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
