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


def _dynamodb_answers(
    moto: Moto, monkeypatch: pytest.MonkeyPatch, *, through_flask: bool
) -> list[tuple[str, int, list[tuple[str, str]], bytes]]:
    """The answers (status, headers but the request id, body) to a run of DynamoDB requests
    on a fresh table, through moto's Flask app or beside it."""
    from fixloop.local.patches import in_process

    answers: list[tuple[str, int, list[tuple[str, str]], bytes]] = []
    call = in_process._call

    def recorded(app: Any, environ: dict[str, Any]) -> Any:
        status, headers, body = call(app, environ)
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        if target.startswith("DynamoDB_20120810.") and "Table" not in target:
            kept = [(k, v) for k, v in headers if k.lower() != "x-amzn-requestid"]
            answers.append((target, status, kept, body))
        return status, headers, body

    ddb = _client(moto, "dynamodb")
    table = f"{PREFIX}-flask-free"
    ddb.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    )
    with monkeypatch.context() as patched:
        patched.setattr(in_process, "_call", recorded)
        if through_flask:
            patched.setattr(in_process, "_dynamodb_view", lambda backend, environ: None)
        key = {"pk": {"S": "k"}}
        ddb.put_item(TableName=table, Item={**key, "n": {"N": "1"}, "b": {"B": b"\x00"}})
        with pytest.raises(ddb.exceptions.ConditionalCheckFailedException):
            ddb.put_item(TableName=table, Item=key, ConditionExpression="attribute_not_exists(pk)")
        ddb.update_item(
            TableName=table,
            Key=key,
            UpdateExpression="ADD n :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
            ReturnValues="ALL_NEW",
        )
        with pytest.raises(ClientError, match="ValidationException"):
            ddb.update_item(TableName=table, Key=key, UpdateExpression="SET n = :missing")
        ddb.get_item(TableName=table, Key=key, ConsistentRead=True)
        ddb.query(
            TableName=table,
            KeyConditionExpression="pk = :k",
            ExpressionAttributeValues={":k": {"S": "k"}},
        )
        with pytest.raises(ddb.exceptions.ResourceNotFoundException):
            ddb.get_item(TableName=f"{table}-missing", Key=key)
        ddb.delete_item(TableName=table, Key=key, ReturnValues="ALL_OLD")
    ddb.delete_table(TableName=table)
    return answers


def test_dynamodb_requests_skip_flask_with_the_same_answers(
    in_process: Moto, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.moto_server.werkzeug_app import BackendRequest

    # Given a count of the requests Flask's request context takes in
    pushed: list[int] = []
    original_init = BackendRequest.__init__

    def counted(self: Any, *args: Any, **kwargs: Any) -> None:
        pushed.append(1)
        original_init(self, *args, **kwargs)

    # When the same DynamoDB requests run through moto's Flask app, then beside it
    through_flask = _dynamodb_answers(in_process, monkeypatch, through_flask=True)
    beside = _dynamodb_answers(in_process, monkeypatch, through_flask=False)

    # Then every answer is the same: status, headers (the CORS one included) and body
    assert [a[0] for a in beside] == [a[0] for a in through_flask]
    assert len(beside) == 8
    for flask_answer, direct_answer in zip(through_flask, beside, strict=True):
        assert direct_answer == flask_answer
    assert ("Access-Control-Allow-Origin", "*") in beside[0][2]
    assert {a[1] for a in beside} == {200, 400}
    # and beside it, Flask built no request of its own (one request object per request)
    monkeypatch.setattr(BackendRequest, "__init__", counted)
    _client(in_process, "dynamodb").list_tables()
    assert len(pushed) == 1


def test_an_http_exception_from_dynamodb_is_answered_as_flask_answers_it(
    in_process: Moto, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.dynamodb.responses import DynamoHandler
    from werkzeug.exceptions import Forbidden

    from fixloop.local.patches import in_process as module

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise Forbidden("not here")

    # Given a DynamoDB request that fails before moto's own error handling
    monkeypatch.setattr(DynamoHandler, "setup_class", forbidden)

    def answer() -> dict[str, Any]:
        with pytest.raises(ClientError) as error:
            _client(in_process, "dynamodb").list_tables()
        response: dict[str, Any] = dict(error.value.response)
        return response

    beside = answer()
    monkeypatch.setattr(module, "_dynamodb_view", lambda backend, environ: None)
    through_flask = answer()
    assert beside["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert beside["Error"] == through_flask["Error"]
    assert (
        beside["ResponseMetadata"]["HTTPHeaders"]
        == through_flask["ResponseMetadata"]["HTTPHeaders"]
    )
