"""patches.dynamodb_lock: concurrent DynamoDB requests do not corrupt moto's tables."""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

from tests.integration.patches.harness import PREFIX, REGION, Moto

WRITERS = 4
WRITES = 60


def test_concurrent_transactions_and_puts_all_land(moto: Moto) -> None:
    # Given a table with many items
    # (no retries: a request moto fails must show)
    ddb = boto3.client(
        "dynamodb",
        endpoint_url=moto.endpoint_url,
        region_name=REGION,
        config=Config(retries={"total_max_attempts": 1}, max_pool_connections=2 * WRITERS),
    )
    table = f"{PREFIX}-concurrent"
    ddb.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    )
    for i in range(0, 2000, 25):
        ddb.batch_write_item(
            RequestItems={
                table: [
                    {"PutRequest": {"Item": {"pk": {"S": f"seed-{j}"}, "v": {"S": "x" * 200}}}}
                    for j in range(i, i + 25)
                ]
            }
        )
    errors: list[BaseException] = []

    def transact(worker: int) -> None:
        # transact_write_items copies every table for its rollback
        for n in range(WRITES):
            item = {"pk": {"S": f"tx-{worker}-{n}"}, "v": {"S": "t"}}
            ddb.transact_write_items(TransactItems=[{"Put": {"TableName": table, "Item": item}}])

    def put(worker: int) -> None:
        for n in range(WRITES):
            ddb.put_item(TableName=table, Item={"pk": {"S": f"put-{worker}-{n}"}})

    def run(target: Any, worker: int) -> None:
        try:
            target(worker)
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    # When transactions and plain puts run at the same time
    threads = [
        threading.Thread(target=run, args=(fn, w)) for w in range(WRITERS) for fn in (transact, put)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then every request succeeded and every item is there
    assert errors == []
    count = ddb.scan(TableName=table, Select="COUNT")["Count"]
    assert count == 2000 + 2 * WRITERS * WRITES
