"""patches.chaos_dynamodb: DynamoDB throttles and transaction conflicts as AWS answers them
(moto applies every request)."""

from __future__ import annotations

import contextlib
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from fixloop.errors import StorageConflict, StorageThrottled
from fixloop.store.conditions import transacted
from tests.integration.patches.harness import PREFIX, REGION, Moto
from tests.support import chaos

TABLE = f"{PREFIX}-chaos"


def _ddb(moto: Moto) -> Any:
    """A client as fixloop's (fixloop/aws.py): botocore's standard retries, ``max_attempts``
    5, which botocore counts as retries: six attempts in all."""
    ddb = boto3.client(
        "dynamodb",
        endpoint_url=moto.endpoint_url,
        region_name=REGION,
        config=Config(retries={"mode": "standard", "max_attempts": 5}),
    )
    with contextlib.suppress(ddb.exceptions.ResourceInUseException):
        ddb.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        )
    return ddb


def _stored(ddb: Any, key: str) -> bool:
    return "Item" in ddb.get_item(TableName=TABLE, Key={"pk": {"S": key}}, ConsistentRead=True)


def test_a_burst_outlasts_the_sdk_retries_and_writes_nothing(moto: Moto) -> None:
    # Given fixloop's client, and every call throttled on every attempt
    ddb = _ddb(moto)

    # When a put is made
    with chaos("dynamodb_throttle_burst=1"), pytest.raises(ClientError) as raised:
        ddb.put_item(TableName=TABLE, Item={"pk": {"S": "burst"}})

    # Then the caller sees DynamoDB's throttle after the SDK's retries, naming the table
    error = raised.value.response
    assert error["Error"]["Code"] == "ThrottlingException"
    assert "automatically scaling your table" in error["Error"]["Message"]
    assert error["ResponseMetadata"]["RetryAttempts"] == 5
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    (reason,) = error["throttlingReasons"]
    assert reason["reason"] == "TableWriteKeyRangeThroughputExceeded"
    assert reason["resource"].endswith(f":table/{TABLE}")
    # and nothing was written
    assert not _stored(ddb, "burst")


def test_a_throttled_attempt_now_and_then_is_absorbed_by_the_sdk(moto: Moto) -> None:
    # Given half the attempts throttled, each on its own (seeded)
    ddb = _ddb(moto)
    with chaos("dynamodb_throttle=0.5", seed=7):
        # When ten puts and reads are made
        retried = 0
        for n in range(10):
            put = ddb.put_item(TableName=TABLE, Item={"pk": {"S": f"absorbed-{n}"}})
            retried += put["ResponseMetadata"]["RetryAttempts"]
        with pytest.raises(ClientError, match="ThrottlingException"):
            # (a read throttled on all six attempts, 0.5**6: the seed's draws find one)
            for _ in range(200):
                ddb.get_item(TableName=TABLE, Key={"pk": {"S": "absorbed-0"}})

    # Then every put landed, some only after the SDK retried it
    assert retried > 0
    assert all(_stored(ddb, f"absorbed-{n}") for n in range(10))


def test_a_transaction_is_cancelled_by_a_conflict_and_not_retried(moto: Moto) -> None:
    # Given a transaction of two puts, and every transaction meeting another one
    ddb = _ddb(moto)
    items = [{"Put": {"TableName": TABLE, "Item": {"pk": {"S": f"tx-{n}"}}}} for n in ("a", "b")]

    # When it is written
    with chaos("transaction_conflict=1"), pytest.raises(ClientError) as raised:
        ddb.transact_write_items(TransactItems=items)

    # Then DynamoDB's cancellation comes back at once, one reason per item, one conflict
    error = raised.value.response
    assert error["Error"]["Code"] == "TransactionCanceledException"
    assert error["ResponseMetadata"]["RetryAttempts"] == 0
    codes = [r["Code"] for r in error["CancellationReasons"]]
    assert sorted(codes) == ["None", "TransactionConflict"]
    assert f"[{', '.join(codes)}]" in error["Error"]["Message"]
    assert not _stored(ddb, "tx-a") and not _stored(ddb, "tx-b")
    # and fixloop's transactions tell it from a failed condition: retried, not a duplicate
    with chaos("transaction_conflict=1"), pytest.raises(StorageConflict):
        transacted(lambda: ddb.transact_write_items(TransactItems=items))
    with chaos("dynamodb_throttle=1"), pytest.raises(StorageThrottled, match="ThrottlingError"):
        transacted(lambda: ddb.transact_write_items(TransactItems=items))
    assert transacted(lambda: ddb.transact_write_items(TransactItems=items)) is True
    assert _stored(ddb, "tx-a") and _stored(ddb, "tx-b")


def test_reads_are_throttled_as_reads_and_other_services_never(moto: Moto) -> None:
    ddb = _ddb(moto)
    with chaos("dynamodb_throttle_burst=1"):
        with pytest.raises(ClientError) as raised:
            ddb.query(
                TableName=TABLE,
                KeyConditionExpression="pk = :k",
                ExpressionAttributeValues={":k": {"S": "x"}},
            )
        (reason,) = raised.value.response["throttlingReasons"]
        assert reason["reason"] == "TableReadKeyRangeThroughputExceeded"
        # the control plane and other services are left alone
        assert TABLE in ddb.list_tables()["TableNames"]
        moto.client("sqs").list_queues()
