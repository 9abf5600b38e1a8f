"""patches.dynamodb_updates: an update expression is parsed once, its validators read their
map once per class, and every update (or its error) is what unpatched moto makes of it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from botocore.exceptions import ClientError

from fixloop.local import patches
from tests.integration.patches.harness import PREFIX, Moto

TABLE = f"{PREFIX}-updates"

BASE: dict[str, Any] = {
    "n": {"N": "1"},
    "s": {"S": "text"},
    "m": {"M": {"inside": {"S": "x"}, "count": {"N": "2"}}},
    "l": {"L": [{"S": "a"}, {"N": "3"}]},
    "tags": {"SS": ["red", "blue"]},
}

Case = tuple[str, dict[str, str], dict[str, Any], str | None]
CASES: list[Case] = [
    ("SET s = :v", {}, {":v": {"S": "new"}}, None),
    ("SET #n = #n + :one", {"#n": "n"}, {":one": {"N": "1"}}, None),
    ("SET c = if_not_exists(c, :zero) + :one", {}, {":zero": {"N": "0"}, ":one": {"N": "1"}}, None),
    ("SET l = list_append(l, :more)", {}, {":more": {"L": [{"S": "b"}]}}, None),
    (
        "SET m.inside = :v, m.#c = m.#c - :one",
        {"#c": "count"},
        {":v": {"S": "y"}, ":one": {"N": "1"}},
        None,
    ),
    ("SET l[0] = :v REMOVE s", {}, {":v": {"S": "z"}}, None),
    ("REMOVE m.inside, l[1]", {}, {}, None),
    ("ADD n :one, fresh :one", {}, {":one": {"N": "5"}}, None),
    ("ADD tags :t, n :one", {}, {":t": {"SS": ["green"]}, ":one": {"N": "1"}}, None),
    ("DELETE tags :gone SET s = :v", {}, {":gone": {"SS": ["red"]}, ":v": {"S": "y"}}, None),
    ("SET s = :v", {}, {":v": {"S": "if absent"}}, "attribute_not_exists(pk)"),
    ("SET s = :v", {}, {":v": {"S": "if text"}, ":old": {"S": "text"}}, "s = :old"),
    # refused, each with its own error (a syntax error twice: it is not kept)
    ("SET s = = :v", {}, {":v": {"S": "x"}}, None),
    ("SET s = = :v", {}, {":v": {"S": "x"}}, None),
    ("SET s = :missing, n = :v", {}, {":v": {"N": "2"}}, None),
    ("SET s = :v", {"#unused": "n"}, {":v": {"S": "x"}}, None),
    ("SET pk = :v", {}, {":v": {"S": "other"}}, None),
    ("SET s = :v, s = :w", {}, {":v": {"S": "x"}, ":w": {"S": "y"}}, None),
    ("SET s = :v SET n = :w", {}, {":v": {"S": "x"}, ":w": {"N": "2"}}, None),
    ("SET nothing.deeper.still = :v", {}, {":v": {"S": "x"}}, None),
    ("SET s = nothing + :v", {}, {":v": {"N": "1"}}, None),
    ("SET s = s + :v", {}, {":v": {"N": "1"}}, None),
    ("ADD s :v", {}, {":v": {"N": "1"}}, None),
    ("SET s = :empty", {}, {":empty": {"S": ""}}, None),
    ("SET s = :v", {}, {":v": {"S": "x"}, ":unused": {"S": "y"}}, None),
]


@pytest.fixture(scope="module")
def table(moto: Moto) -> str:
    moto.client("dynamodb").create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    )
    return TABLE


def _outcomes(moto: Moto, run: str) -> list[dict[str, Any]]:
    """Each case applied to a fresh copy of BASE: what UpdateItem answered, and the item."""
    ddb = moto.client("dynamodb")
    outcomes = []
    for i, (expression, names, values, condition) in enumerate(CASES):
        key = {"pk": {"S": f"{run}-{i}"}}
        ddb.put_item(TableName=TABLE, Item={**key, **BASE})
        request: dict[str, Any] = {
            "TableName": TABLE,
            "Key": key,
            "UpdateExpression": expression,
            "ReturnValues": "ALL_NEW",
        }
        if names:
            request["ExpressionAttributeNames"] = names
        if values:
            request["ExpressionAttributeValues"] = values
        if condition:
            request["ConditionExpression"] = condition
        try:
            answer: dict[str, Any] = {"attributes": ddb.update_item(**request)["Attributes"]}
        except ClientError as exc:
            answer = {"error": exc.response["Error"]}
        item = ddb.get_item(TableName=TABLE, Key=key)["Item"]
        item["pk"] = {"S": "-"}
        if "attributes" in answer:
            answer["attributes"]["pk"] = {"S": "-"}
        outcomes.append({"case": expression, **answer, "item": item})
    return outcomes


@contextmanager
def _unpatched(moto: Moto) -> Iterator[None]:
    """moto as released, for the block."""
    patches.uninstall()
    try:
        yield
    finally:
        patches.install(moto.dispatch)


def test_validators_read_their_map_once_per_class(
    moto: Moto, table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.dynamodb.parsing import validators

    # Given a count of the maps the value substitution validator builds
    built: list[int] = []
    original = validators.ExpressionAttributeValueProcessor._processing_map

    def counting(self: Any) -> Any:
        built.append(1)
        return original(self)

    monkeypatch.setattr(validators.ExpressionAttributeValueProcessor, "_processing_map", counting)
    ddb = moto.client("dynamodb")
    key = {"pk": {"S": "counted"}}
    ddb.put_item(TableName=TABLE, Item={**key, **BASE})

    def update() -> None:
        ddb.update_item(
            TableName=TABLE,
            Key=key,
            UpdateExpression="SET s = :v, m.inside = :v, c = if_not_exists(c, :v)",
            ExpressionAttributeValues={":v": {"S": "x"}},
        )

    # (and the clause finder the validators call is the patched one)
    from moto.dynamodb.parsing.ast_nodes import Node  # type: ignore[attr-defined]

    assert Node.find_clauses.__module__ == "fixloop.local.patches.dynamodb_updates"
    # When three updates of six value nodes each run, then the map was read once at most
    for _ in range(3):
        update()
    assert len(built) <= 1
    # (moto as released reads it for every node of every update)
    with _unpatched(moto):
        built.clear()
        update()
    assert len(built) > 6


def test_an_expression_is_parsed_once(
    moto: Moto, table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.dynamodb.parsing.tokens import ExpressionTokenizer

    # Given a count of the expressions moto tokenizes
    tokenized: list[str] = []
    original = ExpressionTokenizer.make_list

    def counting(expression: str) -> Any:
        tokenized.append(expression)
        return original(expression)

    monkeypatch.setattr(ExpressionTokenizer, "make_list", staticmethod(counting))
    ddb = moto.client("dynamodb")
    key = {"pk": {"S": "parsed"}}
    ddb.put_item(TableName=TABLE, Item={**key, **BASE})
    expression = "SET s = :v, parsed_once = if_not_exists(parsed_once, :v)"

    # When three updates use the same expression (each parsed twice by moto as released)
    for value in ("a", "b", "c"):
        ddb.update_item(
            TableName=TABLE,
            Key=key,
            UpdateExpression=expression,
            ExpressionAttributeValues={":v": {"S": value}},
        )
    # Then it was tokenized once at most, and each update applied its own values
    assert tokenized.count(expression) <= 1
    item = ddb.get_item(TableName=TABLE, Key=key)["Item"]
    assert (item["s"], item["parsed_once"]) == ({"S": "c"}, {"S": "a"})


def test_every_update_and_error_is_moto_s_own(moto: Moto, table: str) -> None:
    patched = _outcomes(moto, "patched")
    with _unpatched(moto):
        released = _outcomes(moto, "released")
    assert patched == released
    # and the cases cover both outcomes
    errors = [o["error"]["Code"] for o in patched if "error" in o]
    assert "ConditionalCheckFailedException" in errors
    assert errors.count("ValidationException") >= 10
    assert sum("attributes" in o for o in patched) >= 10
