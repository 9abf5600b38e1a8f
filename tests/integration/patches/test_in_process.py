"""patches.in_process: this process's requests to its moto server skip HTTP, same answers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError

from fixloop.local import patches
from tests.integration.patches.harness import PREFIX, REGION, BoomError, Moto


@pytest.fixture
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Any HTTP request botocore sends fails the test."""
    import urllib3

    def urlopen(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"an HTTP request was sent: {args[1:3]}")

    monkeypatch.setattr(urllib3.connectionpool.HTTPConnectionPool, "urlopen", urlopen)
    yield


@pytest.fixture
def in_process(moto: Moto) -> Iterator[Moto]:
    patches.serve_in_process(moto.endpoint_url, patches.server_app(moto.server))
    try:
        yield moto
    finally:
        patches.stop_serving(moto.endpoint_url)


def _client(moto: Moto, service: str) -> Any:
    """A client of a session made now, after serve_in_process registered its handler."""
    return boto3.session.Session().client(
        service,
        endpoint_url=moto.endpoint_url,
        region_name=REGION,
        config=Config(retries={"total_max_attempts": 1}),
    )


def test_requests_are_answered_without_http(in_process: Moto, no_sockets: None) -> None:
    moto = in_process
    # DynamoDB: writes, conditional failures and reads
    ddb = _client(moto, "dynamodb")
    table = f"{PREFIX}-in-process"
    ddb.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    )
    ddb.put_item(TableName=table, Item={"pk": {"S": "é/1"}, "n": {"N": "1"}})
    with pytest.raises(ddb.exceptions.ConditionalCheckFailedException):
        ddb.put_item(
            TableName=table,
            Item={"pk": {"S": "é/1"}},
            ConditionExpression="attribute_not_exists(pk)",
        )
    got = ddb.get_item(TableName=table, Key={"pk": {"S": "é/1"}}, ConsistentRead=True)
    assert got["Item"] == {"pk": {"S": "é/1"}, "n": {"N": "1"}}
    # S3: a key needing quoting, metadata names with underscores, a streamed body, HEAD
    s3 = _client(moto, "s3")
    s3.create_bucket(Bucket=f"{PREFIX}-in-process")
    key = "events/inv 1/t000001.json"
    s3.put_object(
        Bucket=f"{PREFIX}-in-process", Key=key, Body=b"x" * 70_000, Metadata={"my_key": "v"}
    )
    obj = s3.get_object(Bucket=f"{PREFIX}-in-process", Key=key)
    assert obj["Body"].read() == b"x" * 70_000
    assert obj["Metadata"] == {"my_key": "v"}
    head = s3.head_object(Bucket=f"{PREFIX}-in-process", Key=key)
    assert head["ContentLength"] == 70_000
    with pytest.raises(ClientError) as missing:
        s3.get_object(Bucket=f"{PREFIX}-in-process", Key="nothing")
    assert missing.value.response["Error"]["Code"] == "NoSuchKey"

    # Lambda: the function error travels in a header
    def boom(event: dict[str, Any]) -> Any:
        raise BoomError("in process")

    lam = _client(moto, "lambda")
    moto.handlers[f"{PREFIX}-in-process-boom"] = boom
    lam.create_function(
        FunctionName=f"{PREFIX}-in-process-boom",
        Runtime="python3.13",
        Role=moto.role_arn,
        Handler="handler.lambda_handler",
        Code={"ZipFile": b"not used"},
    )
    failed = lam.invoke(FunctionName=f"{PREFIX}-in-process-boom")
    assert failed["FunctionError"] == "Unhandled"
    assert json.loads(failed["Payload"].read())["errorType"] == "BoomError"


def test_an_error_inside_moto_answers_as_the_server_does(
    moto: Moto, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.dynamodb.responses import DynamoHandler

    def broken(self: Any) -> Any:
        raise RuntimeError("moto bug")

    monkeypatch.setattr(DynamoHandler, "list_tables", broken)

    def failure() -> ClientError:
        with pytest.raises(ClientError) as error:
            _client(moto, "dynamodb").list_tables()
        return error.value

    over_http = failure()
    patches.serve_in_process(moto.endpoint_url, patches.server_app(moto.server))
    try:
        in_process = failure()
    finally:
        patches.stop_serving(moto.endpoint_url)
    assert in_process.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert in_process.response["Error"] == over_http.response["Error"]


def test_other_endpoints_and_stopped_servers_use_http(moto: Moto, no_sockets: None) -> None:
    patches.serve_in_process(moto.endpoint_url, patches.server_app(moto.server))
    patches.stop_serving(moto.endpoint_url)
    with pytest.raises(HTTPClientError, match="an HTTP request was sent"):
        _client(moto, "sts").get_caller_identity()
