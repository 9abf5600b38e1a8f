"""patches.lambda_async: an Event invocation runs in the background, retried as Lambda does."""

from __future__ import annotations

import threading
import time
from typing import Any

from fixloop.local.patches.lambda_async import ASYNC_ATTEMPTS
from tests.integration.patches.harness import PREFIX, InjectedFault, Moto


def test_a_failing_event_invocation_is_run_twice_more(moto: Moto) -> None:
    # Given functions failing once, and always
    attempts: dict[str, int] = {"flaky": 0, "broken": 0}
    flaky_done = threading.Event()
    broken_done = threading.Event()

    def flaky(event: dict[str, Any]) -> Any:
        attempts["flaky"] += 1
        if attempts["flaky"] == 1:
            raise InjectedFault("first attempt fails")
        flaky_done.set()
        return {}

    def broken(event: dict[str, Any]) -> Any:
        attempts["broken"] += 1
        if attempts["broken"] == ASYNC_ATTEMPTS:
            broken_done.set()
        raise InjectedFault("always")

    moto.function(f"{PREFIX}-async-flaky", flaky)
    moto.function(f"{PREFIX}-async-broken", broken)
    lam = moto.client("lambda")
    # When each is invoked asynchronously
    for name in ("flaky", "broken"):
        queued = lam.invoke(FunctionName=f"{PREFIX}-async-{name}", InvocationType="Event")
        assert queued["StatusCode"] == 202
    # Then the flaky one succeeds on its retry, the broken one is tried three times in all
    assert flaky_done.wait(5)
    assert broken_done.wait(5)
    time.sleep(0.1)  # no fourth attempt
    assert attempts == {"flaky": 2, "broken": 3}
