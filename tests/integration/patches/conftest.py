from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from fixloop.local import patches
from tests.integration.patches.harness import PREFIX, REGION, Handler, Moto


@pytest.fixture(scope="package")
def moto() -> Iterator[Moto]:
    """One ThreadedMotoServer on loopback for the package, with the patches borrowed."""
    from moto.server import ThreadedMotoServer

    handlers: dict[str, Handler] = {}

    def dispatch(function_name: str, event: dict[str, Any]) -> Any:
        return handlers[function_name](event)

    with pytest.MonkeyPatch.context() as env:
        for key, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        }.items():
            env.setenv(key, value)
        env.delenv("AWS_SESSION_TOKEN", raising=False)
        env.delenv("AWS_ENDPOINT_URL", raising=False)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        try:
            with patches.installed(dispatch, endpoint):
                harness = Moto(endpoint, "", handlers, dispatch, server)
                harness.role_arn = harness.client("iam").create_role(
                    RoleName=f"{PREFIX}-role",
                    AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17"}),
                )["Role"]["Arn"]
                patches.set_retry_sleep(harness.sleeps.append)
                yield harness
        finally:
            server.stop()
