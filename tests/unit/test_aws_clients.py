"""fixloop.aws: one session's models for every client, the environment re-read on reset."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from fixloop import aws


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    aws.reset_clients()
    yield monkeypatch
    aws.reset_clients()


def test_clients_share_the_models_they_load(
    env: pytest.MonkeyPatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore import loaders

    loaded: list[str] = []
    original = loaders.JSONFileLoader.load_file

    def load_file(self: Any, file_path: str) -> Any:
        loaded.append(file_path)
        return original(self, file_path)

    monkeypatch.setattr(loaders.JSONFileLoader, "load_file", load_file)
    # When clients of several services are made
    aws.client("s3")
    aws.client("stepfunctions")
    aws.resource("dynamodb")
    # Then the files every client needs (endpoints, partitions, defaults) were read once
    shared = [path for path in loaded if "/data/endpoints" in path or "partitions" in path]
    assert shared
    assert len(shared) == len(set(shared))
    assert aws.client("s3") is aws.client("s3")


def test_reset_reads_the_environment_again(env: pytest.MonkeyPatch) -> None:
    assert aws.client("sqs").meta.endpoint_url == "http://127.0.0.1:1"
    env.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:2")
    aws.reset_clients()
    assert aws.client("sqs").meta.endpoint_url == "http://127.0.0.1:2"


def test_a_dynamodb_throttle_past_the_sdk_retries_is_storage_throttled(
    env: pytest.MonkeyPatch,
) -> None:
    # Given fixloop's DynamoDB client answered a throttle (after the SDK's retries)
    from botocore.exceptions import ClientError
    from botocore.stub import Stubber

    from fixloop.errors import StorageThrottled

    ddb = aws.client("dynamodb")
    with Stubber(ddb) as stub:
        stub.add_client_error("get_item", "ThrottlingException", "scaling", 400)
        stub.add_client_error("get_item", "ValidationException", "bad key", 400)
        # When a call meets it / Then it is a transient storage error, whichever call it was
        with pytest.raises(StorageThrottled, match="GetItem after the SDK's retries"):
            ddb.get_item(TableName="t", Key={"pk": {"S": "a"}})
        # and any other error is the SDK's own
        with pytest.raises(ClientError, match="ValidationException"):
            ddb.get_item(TableName="t", Key={"pk": {"S": "a"}})
