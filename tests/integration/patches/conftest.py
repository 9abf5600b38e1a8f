from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from fixloop.local import patches
from tests.integration.patches.harness import PREFIX, REGION, Handler, Moto


@pytest.fixture(scope="package")
def moto() -> Iterator[Moto]:
    """One ThreadedMotoServer on loopback for the package, with the patches borrowed.

    moto's backends are process-wide: when xdist interleaves the package with other files,
    a later server of the same worker finds what an earlier one made."""
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
                harness.role_arn = _role(harness)
                patches.set_retry_sleep(harness.sleeps.append)
                yield harness
        finally:
            server.stop()


def _role(harness: Moto) -> str:
    iam = harness.client("iam")
    name = f"{PREFIX}-role"
    try:
        role = iam.create_role(
            RoleName=name, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17"})
        )
    except iam.exceptions.EntityAlreadyExistsException:
        role = iam.get_role(RoleName=name)
    arn: str = role["Role"]["Arn"]
    return arn
