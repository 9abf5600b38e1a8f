"""patches.dynamodb_responses: data-plane results skip moto's generic serializer, and each
answer is the one the generic serializer gives for the same result."""

from __future__ import annotations

import binascii
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ClientError

from fixloop.local.patches.dynamodb_responses import DATA_PLANE
from tests.integration.patches.harness import PREFIX, Moto

TABLE = f"{PREFIX}-wire"

ITEM: dict[str, Any] = {
    "pk": {"S": "p"},
    "sk": {"S": "s0"},
    "gsi": {"S": "g"},
    "n": {"N": "12.50"},
    "b": {"B": b"\x00\xffbinary"},
    "ss": {"SS": ["a", "b"]},
    "ns": {"NS": ["1", "2.5"]},
    "bs": {"BS": [b"\x01", b"\x02\x03"]},
    "null": {"NULL": True},
    "flag": {"BOOL": False},
    "empty": {"S": ""},
    "m": {"M": {"deep": {"L": [{"B": b"\x04"}, {"M": {"x": {"N": "-1"}}}, {"NULL": True}]}}},
    "l": {"L": []},
}


@dataclass
class Compared:
    """Every DynamoDB result serialized both ways, by action."""

    actions: Counter[str] = field(default_factory=Counter)
    generic_calls: Counter[str] = field(default_factory=Counter)
    differences: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def table(moto: Moto) -> str:
    moto.client("dynamodb").create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "gsi", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-gsi",
                "KeySchema": [
                    {"AttributeName": "gsi", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    return TABLE


@pytest.fixture
def compared(monkeypatch: pytest.MonkeyPatch) -> Iterator[Compared]:
    """Serializes each DynamoDB result with the patched path and with moto's own, and counts
    the generic serializer's calls on the patched path."""
    from moto.core.responses import BaseResponse
    from moto.core.serialize import JSONSerializer

    seen = Compared()
    fast = BaseResponse.serialized
    generic = fast.__wrapped__  # type: ignore[attr-defined]
    serialize = JSONSerializer.serialize
    calls: list[int] = []

    def counted(self: Any, result: Any) -> Any:
        calls.append(1)
        return serialize(self, result)

    def both(self: Any, result: Any) -> Any:
        if self.service_name != "dynamodb":
            return fast(self, result)
        action = self._get_action()
        calls.clear()
        answer = fast(self, result)
        seen.actions[action] += 1
        seen.generic_calls[action] += len(calls)
        reference = generic(self, result)
        if _canonical(answer) != _canonical(reference):
            seen.differences.append(f"{action}: {answer} != {reference}")
        return answer

    monkeypatch.setattr(JSONSerializer, "serialize", counted)
    monkeypatch.setattr(BaseResponse, "serialized", both)
    yield seen


def _canonical(answer: Any) -> tuple[int, dict[str, str], str]:
    """Status, headers and the body parsed (key order aside; 1 and 1.0 still differ)."""
    status, headers, body = answer
    return status, dict(headers), json.dumps(json.loads(body), sort_keys=True)


def test_data_plane_answers_are_the_generic_serializer_s(
    moto: Moto, table: str, compared: Compared
) -> None:
    ddb = moto.client("dynamodb")
    crcs: list[tuple[str, bytes]] = []

    def check_crc(response_dict: dict[str, Any], **_: Any) -> None:
        crcs.append((response_dict["headers"].get("x-amz-crc32", ""), response_dict["body"]))

    ddb.meta.events.register("before-parse.dynamodb.*", check_crc)
    try:
        _every_data_plane_action(ddb)
    finally:
        ddb.meta.events.unregister("before-parse.dynamodb.*", check_crc)

    assert compared.differences == []
    # every data-plane action was answered, none by the generic serializer (moto raises
    # DynamoDB's errors past it), and the control plane by the generic serializer
    assert set(compared.actions) >= DATA_PLANE | {"DescribeTable"}
    assert all(compared.generic_calls[action] == 0 for action in DATA_PLANE)
    assert compared.generic_calls["DescribeTable"] == compared.actions["DescribeTable"] == 1
    # and each answer carries the CRC32 of its own body, as DynamoDB's do
    assert crcs and all(crc == str(binascii.crc32(body)) for crc, body in crcs)


def _every_data_plane_action(ddb: Any) -> None:
    key = {"pk": ITEM["pk"], "sk": ITEM["sk"]}
    ddb.put_item(TableName=TABLE, Item=ITEM, ReturnConsumedCapacity="TOTAL")
    ddb.put_item(TableName=TABLE, Item=ITEM, ReturnValues="ALL_OLD")
    ddb.put_item(
        TableName=TABLE, Item={**ITEM, "sk": {"S": "s1"}}, ReturnConsumedCapacity="INDEXES"
    )
    with pytest.raises(ClientError, match="ConditionalCheckFailed"):
        ddb.put_item(TableName=TABLE, Item=ITEM, ConditionExpression="attribute_not_exists(pk)")
    ddb.get_item(TableName=TABLE, Key=key)
    ddb.get_item(TableName=TABLE, Key={"pk": {"S": "none"}, "sk": {"S": "none"}})
    ddb.get_item(
        TableName=TABLE,
        Key=key,
        ProjectionExpression="#n, m.deep[0], bs",
        ExpressionAttributeNames={"#n": "n"},
        ReturnConsumedCapacity="TOTAL",
    )
    for returned in ("ALL_NEW", "UPDATED_OLD", "UPDATED_NEW", "ALL_OLD", "NONE"):
        ddb.update_item(
            TableName=TABLE,
            Key=key,
            UpdateExpression="SET n = n + :one, b = :b ADD ns :more",
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":b": {"B": b"\x05"},
                ":more": {"NS": ["7"]},
            },
            ReturnValues=returned,
        )
    with pytest.raises(ClientError, match="ConditionalCheckFailed"):
        ddb.update_item(
            TableName=TABLE,
            Key=key,
            UpdateExpression="SET n = :n",
            ConditionExpression="attribute_not_exists(pk)",
            ExpressionAttributeValues={":n": {"N": "0"}},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    for i in range(2, 6):
        ddb.put_item(TableName=TABLE, Item={**ITEM, "sk": {"S": f"s{i}"}})
    ddb.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "p"}},
        Limit=2,
        ReturnConsumedCapacity="TOTAL",
    )
    ddb.query(
        TableName=TABLE,
        IndexName="by-gsi",
        KeyConditionExpression="gsi = :g AND sk > :s",
        ExpressionAttributeValues={":g": {"S": "g"}, ":s": {"S": "s1"}},
        ScanIndexForward=False,
        Limit=3,
    )
    ddb.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "p"}},
        Select="COUNT",
    )
    ddb.scan(TableName=TABLE, Limit=2)
    ddb.scan(
        TableName=TABLE,
        FilterExpression="sk > :s",
        ExpressionAttributeValues={":s": {"S": "s3"}},
        ProjectionExpression="sk, b",
    )
    ddb.batch_get_item(
        RequestItems={
            TABLE: {"Keys": [key, {"pk": {"S": "p"}, "sk": {"S": "s1"}}, {**key, "sk": {"S": "x"}}]}
        },
        ReturnConsumedCapacity="TOTAL",
    )
    ddb.batch_write_item(
        RequestItems={
            TABLE: [
                {"PutRequest": {"Item": {**ITEM, "sk": {"S": "s9"}}}},
                {"DeleteRequest": {"Key": {"pk": {"S": "p"}, "sk": {"S": "s5"}}}},
            ]
        }
    )
    ddb.transact_get_items(
        TransactItems=[
            {"Get": {"TableName": TABLE, "Key": key}},
            {"Get": {"TableName": TABLE, "Key": {"pk": {"S": "none"}, "sk": {"S": "x"}}}},
        ]
    )
    ddb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": TABLE, "Item": {**ITEM, "sk": {"S": "t0"}}}},
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": key,
                    "UpdateExpression": "SET flag = :t",
                    "ExpressionAttributeValues": {":t": {"BOOL": True}},
                }
            },
        ]
    )
    with pytest.raises(ClientError, match="TransactionCanceled"):
        ddb.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": TABLE,
                        "Item": ITEM,
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            ]
        )
    ddb.delete_item(TableName=TABLE, Key=key, ReturnValues="ALL_OLD")
    ddb.delete_item(TableName=TABLE, Key=key, ReturnValues="ALL_OLD")
    ddb.describe_table(TableName=TABLE)


@pytest.mark.parametrize(
    ("action", "result", "planned"),
    [
        # a key no member is read from is left out, as the generic serializer leaves it out
        ("Query", {"Items": [{"a": {"S": "x"}}], "Count": 1, "Whatever": 2}, True),
        ("DeleteItem", {"ConsumedCapacityUnits": 0.5}, True),
        # numbers where the model has doubles and strings are converted as it converts them
        ("BatchGetItem", {"ConsumedCapacity": [{"TableName": "t", "CapacityUnits": 2}]}, True),
        ("GetItem", {"Item": {"n": {"N": 5}, "b": {"B": "text"}}}, True),
        # an alias the generic serializer reads a member from, a None in a list
        ("Query", {"items": [{"a": {"S": "x"}}], "Count": 1}, False),
        ("Query", {"ItemList": [{"a": {"S": "x"}}], "Count": 1}, False),
        ("Query", {"Items": [None], "Count": 1}, False),
    ],
)
def test_what_the_plan_does_not_cover_goes_the_generic_way(
    action: str, result: dict[str, Any], planned: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.core.responses import BaseResponse
    from moto.core.serialize import JSONSerializer
    from moto.dynamodb.responses import DynamoHandler, DynamoResult

    handler = DynamoHandler()
    handler.headers = {"Content-Type": "application/x-amz-json-1.0"}
    handler.response_headers = {"x-extra": "1"}
    monkeypatch.setattr(handler, "_get_action", lambda: action)
    generic_calls: list[int] = []
    serialize = JSONSerializer.serialize

    def counted(self: Any, value: Any) -> Any:
        generic_calls.append(1)
        return serialize(self, value)

    fast = BaseResponse.serialized
    generic = fast.__wrapped__  # type: ignore[attr-defined]

    def outcome(serialized: Any) -> Any:
        try:
            return _canonical(serialized(handler, DynamoResult(result)))
        except Exception as exc:  # the generic serializer fails on some results
            return type(exc).__name__

    reference = outcome(generic)
    monkeypatch.setattr(JSONSerializer, "serialize", counted)
    answer = outcome(fast)
    assert answer == reference
    assert isinstance(answer, str) or answer[1]["x-extra"] == "1"
    assert generic_calls == ([] if planned else [1])
