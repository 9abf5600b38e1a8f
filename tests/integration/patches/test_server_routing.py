"""patches.server_routing: moto's server finds a request's backend once per host, and the
actions of a response class once per class."""

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


def test_the_actions_of_a_response_class_are_listed_once(
    moto: Moto, monkeypatch: pytest.MonkeyPatch
) -> None:
    import inspect

    sts = moto.client("sts")
    sts.get_caller_identity()  # STS's response class is known from here on
    listed: list[int] = []
    original = inspect.getmembers

    def getmembers(*args: Any, **kwargs: Any) -> Any:
        listed.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(inspect, "getmembers", getmembers)
    # When more requests come for that class, then they are answered as before
    for _ in range(5):
        assert sts.get_caller_identity()["Account"]
    # without listing its members again
    assert listed == []
