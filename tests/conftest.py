from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from fixloop import aws

# A request that breaks a rule of the Messages API is a fixloop bug: fail the turn loudly
# here (in production it is repaired and logged).
os.environ.setdefault("FIXLOOP_STRICT_REQUESTS", "true")
from tests.support import make_repo


@pytest.fixture(scope="session")
def runtime() -> Iterator[object]:
    """One embedded runtime per test process (it owns the process's AWS environment)."""
    from fixloop.local import patches
    from tests.runtime import LocalRuntime

    with LocalRuntime() as rt:
        patches.set_retry_sleep(lambda _s: None)  # retry intervals are not under test
        yield rt


@pytest.fixture
def channels(runtime: Any) -> Iterator[object]:
    """fixloop's channels served over HTTP on the runtime (REST, webhooks, Slack, Linear),
    with the local Slack, Linear and GitHub they answer to (tests.integration.channels)."""
    from tests.integration.channels import serving

    with serving(runtime) as ch:
        yield ch


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(
        tmp_path / "svc",
        {
            "app/handler.py": "def handle(event):\n    return event['user']['id']\n",
            "app/util.py": "def ident(x):\n    return x\n",
            "README.md": "# svc\n",
        },
    )


TEST_SECRET_PREFIX = "fixloop-test/"
"""Secrets made by tests are named with this prefix, and deleted."""


@contextmanager
def moto_secretsmanager(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto's in-process Secrets Manager, with fixloop's cached clients rebuilt inside it and
    again afterwards (for whatever endpoint the process had before: ``monkeypatch`` restores
    ``AWS_ENDPOINT_URL`` and the credentials another module may have set).

    ``mock_aws`` is started without its reset and stopped without removing data: moto's
    backends are global to the process, and a reset would also wipe the state of an embedded
    runtime (``ThreadedMotoServer``) that other test modules share. The secrets made here are
    deleted instead."""
    from moto import mock_aws

    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    mock = mock_aws()
    mock.start(reset=False)
    aws.reset_clients()
    client = aws.client("secretsmanager")
    try:
        yield client
    finally:
        for page in client.get_paginator("list_secrets").paginate():
            for secret in page["SecretList"]:
                if secret["Name"].startswith(TEST_SECRET_PREFIX):
                    client.delete_secret(SecretId=secret["ARN"], ForceDeleteWithoutRecovery=True)
        mock.stop(remove_data=False)
        aws.reset_clients()


@pytest.fixture
def secretsmanager(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with moto_secretsmanager(monkeypatch) as client:
        yield client
