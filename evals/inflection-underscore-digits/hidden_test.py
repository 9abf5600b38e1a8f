"""Hidden check: a digit followed by a capital starts a new word in underscore(), as it does
in Rails (s3Key -> s3_key), and the round trip with camelize holds."""

import os
from pathlib import Path

import inflection
import pytest


def test_the_checkout_is_under_test() -> None:
    assert (
        Path(inflection.__file__).resolve().is_relative_to(Path(os.environ["REPO_ROOT"]).resolve())
    )


@pytest.mark.parametrize(
    ("camel", "snake"),
    [
        ("s3Key", "s3_key"),
        ("sha256Checksum", "sha256_checksum"),
        ("Area51Controller", "area51_controller"),
        ("addressLine2", "address_line2"),
        ("HTTPServerError", "http_server_error"),
        ("sizeBytes", "size_bytes"),
        ("bucket", "bucket"),
    ],
)
def test_underscore(camel: str, snake: str) -> None:
    assert inflection.underscore(camel) == snake


def test_round_trip() -> None:
    assert inflection.camelize("s3_key", False) == "s3Key"
    assert inflection.camelize(inflection.underscore("Area51Controller")) == "Area51Controller"
