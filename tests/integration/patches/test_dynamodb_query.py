"""patches.dynamodb_query: a table query reads its own partition, from its first match."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.patches.harness import PREFIX, Moto

TABLE = f"{PREFIX}-log"


@pytest.fixture(scope="module")
def table(moto: Moto) -> str:
    """Partition "inv-a": a00..a09 then b00..b04; partition "inv-big": 500 items."""
    ddb = moto.client("dynamodb")
    ddb.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
    )
    items = [("inv-a", f"a{i:02d}") for i in range(10)] + [("inv-a", f"b{i:02d}") for i in range(5)]
    items += [("inv-big", f"x{i:04d}") for i in range(500)]
    for start in range(0, len(items), 25):
        ddb.batch_write_item(
            RequestItems={
                TABLE: [
                    {"PutRequest": {"Item": {"pk": {"S": pk}, "sk": {"S": sk}, "v": {"S": sk}}}}
                    for pk, sk in items[start : start + 25]
                ]
            }
        )
    return TABLE


@pytest.fixture
def sized(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The sort keys of the items moto computes the size of (it does for each item it walks)."""
    from moto.dynamodb.models.dynamo_type import Item

    seen: list[str] = []
    original = Item.size

    def size(self: Any) -> int:
        seen.append(self.range_key.value if self.range_key else "")
        return int(original(self))

    monkeypatch.setattr(Item, "size", size)
    yield seen


def _query(moto: Moto, condition: str, values: dict[str, str], **kwargs: Any) -> dict[str, Any]:
    result: dict[str, Any] = moto.client("dynamodb").query(
        TableName=TABLE,
        KeyConditionExpression=condition,
        ExpressionAttributeValues={k: {"S": v} for k, v in values.items()},
        ConsistentRead=True,
        **kwargs,
    )
    return result


def _keys(result: dict[str, Any]) -> list[str]:
    return [item["sk"]["S"] for item in result["Items"]]


def test_reading_after_a_position_walks_only_what_follows_it(
    moto: Moto, table: str, sized: list[str]
) -> None:
    # When the log of "inv-a" is read after a07 (another partition holds 500 items)
    result = _query(moto, "pk = :pk AND sk > :after", {":pk": "inv-a", ":after": "a07"})
    # Then the answer is what follows, and moto walked nothing else
    assert _keys(result) == ["a08", "a09", "b00", "b01", "b02", "b03", "b04"]
    assert set(sized) <= set(_keys(result))
    sized.clear()
    # Nor for the newest key with a prefix (a key-only query, newest first, Limit 1)
    newest = _query(
        moto,
        "pk = :pk AND begins_with(sk, :prefix)",
        {":pk": "inv-a", ":prefix": "a"},
        ScanIndexForward=False,
        Limit=1,
        ProjectionExpression="sk",
    )
    assert _keys(newest) == ["a09"]
    assert set(sized) <= {"a09", "a08"}


def test_results_and_paging_are_moto_s_own(moto: Moto, table: str) -> None:
    everything = _query(moto, "pk = :pk", {":pk": "inv-a"})
    assert _keys(everything) == [f"a{i:02d}" for i in range(10)] + [f"b{i:02d}" for i in range(5)]
    prefixed = {":pk": "inv-a", ":prefix": "a"}
    begins = "pk = :pk AND begins_with(sk, :prefix)"
    # Limit reached with more items after: a LastEvaluatedKey, and the next page goes on
    page = _query(moto, begins, prefixed, Limit=6)
    assert _keys(page) == [f"a{i:02d}" for i in range(6)]
    rest = _query(moto, begins, prefixed, Limit=6, ExclusiveStartKey=page["LastEvaluatedKey"])
    assert _keys(rest) == [f"a{i:02d}" for i in range(6, 10)]
    # Limit reached exactly, then moto sees the items that follow: it says there may be more
    exact = _query(moto, begins, prefixed, Limit=10)
    assert len(exact["Items"]) == 10 and "LastEvaluatedKey" in exact
    # Newest first: the b items before the first match are skipped, nothing follows a00
    backwards = _query(moto, begins, prefixed, ScanIndexForward=False, Limit=10)
    assert _keys(backwards) == [f"a{i:02d}" for i in reversed(range(10))]
    assert "LastEvaluatedKey" not in backwards
    between = _query(
        moto,
        "pk = :pk AND sk BETWEEN :low AND :high",
        {":pk": "inv-a", ":low": "a05", ":high": "b01"},
        ScanIndexForward=False,
    )
    assert _keys(between) == ["b01", "b00", "a09", "a08", "a07", "a06", "a05"]
    below = _query(moto, "pk = :pk AND sk < :high", {":pk": "inv-a", ":high": "a02"})
    assert _keys(below) == ["a00", "a01"]
    missing = _query(moto, "pk = :pk", {":pk": "inv-none"})
    assert missing["Items"] == [] and missing["Count"] == 0
    filtered = moto.client("dynamodb").query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk AND sk > :after",
        FilterExpression="v <> :skip",
        ExpressionAttributeValues={
            ":pk": {"S": "inv-a"},
            ":after": {"S": "a07"},
            ":skip": {"S": "b00"},
        },
    )
    assert _keys(filtered) == ["a08", "a09", "b01", "b02", "b03", "b04"]
