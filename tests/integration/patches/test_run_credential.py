"""patches.run_credential: a server answers only requests signed with its run's own key."""

from __future__ import annotations

import urllib.error
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from fixloop.local import patches
from tests.integration.patches.harness import REGION, Moto

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _client(moto: Moto, service: str, key: str) -> object:
    return boto3.client(
        service,
        endpoint_url=moto.endpoint_url,
        region_name=REGION,
        aws_access_key_id=key,
        aws_secret_access_key="whatever",
        config=Config(retries={"max_attempts": 1}),
    )


def test_only_the_runs_own_key_is_answered(moto: Moto) -> None:
    # Given a bucket with an object, on a server that now answers the key "testing" only
    s3 = moto.client("s3")
    s3.create_bucket(Bucket="run-credential")
    s3.put_object(Bucket="run-credential", Key="secret.txt", Body=b"investigation data")
    other = _client(moto, "s3", "AKIAOTHEROTHEROTHER0")
    ddb = _client(moto, "dynamodb", "AKIAOTHEROTHEROTHER0")
    signed_url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": "run-credential", "Key": "secret.txt"}
    )
    forged_url = other.generate_presigned_url(  # type: ignore[attr-defined]
        "get_object", Params={"Bucket": "run-credential", "Key": "secret.txt"}
    )
    patches.set_run_credential(moto.server, "testing")
    try:
        # When a stranger asks with its own key, with a URL it signed, or unsigned
        with pytest.raises(ClientError) as refused:
            other.get_object(Bucket="run-credential", Key="secret.txt")  # type: ignore[attr-defined]
        assert refused.value.response["Error"]["Code"] == "InvalidAccessKeyId"
        with pytest.raises(ClientError) as refused_table:
            ddb.list_tables()  # type: ignore[attr-defined]
        assert refused_table.value.response["Error"]["Code"] == "UnrecognizedClientException"
        for url in (forged_url, f"{moto.endpoint_url}/run-credential/secret.txt"):
            with pytest.raises(urllib.error.HTTPError) as denied:
                _OPENER.open(url, timeout=5)
            assert denied.value.code == 403
        with pytest.raises(urllib.error.HTTPError):
            _OPENER.open(f"{moto.endpoint_url}/moto-api/data.json", timeout=5)
        # Then it is refused, while the run's own requests and URLs still work
        assert s3.get_object(Bucket="run-credential", Key="secret.txt")["Body"].read()
        with _OPENER.open(signed_url, timeout=5) as resp:
            assert resp.read() == b"investigation data"
    finally:
        patches.set_run_credential(moto.server, "")
    # And with no credential set, the server answers everyone again (moto's default)
    assert other.get_object(Bucket="run-credential", Key="secret.txt")  # type: ignore[attr-defined]
