"""patches.server_routing: moto's server finds a request's backend once per host."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.patches.harness import Moto


def test_the_backend_of_a_host_is_looked_up_once(
    moto: Moto, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto import backends

    sts = moto.client("sts")
    sts.get_caller_identity()  # the host of STS requests is known from here on
    listed: list[int] = []
    original = backends.list_of_moto_modules

    def list_of_moto_modules() -> Any:
        listed.append(1)
        return original()

    monkeypatch.setattr(backends, "list_of_moto_modules", list_of_moto_modules)
    # When more requests come for that host
    for _ in range(5):
        assert sts.get_caller_identity()["Account"]
    # Then moto's package was not listed again to route them
    assert listed == []
