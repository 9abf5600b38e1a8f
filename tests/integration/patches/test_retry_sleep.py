"""patches.retry_sleep: the wait between ASL Retry attempts goes through a hook."""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

from tests.integration.patches.harness import PREFIX, InjectedFault, Moto, invoke


def test_retry_intervals_go_through_the_hook_not_real_time(moto: Moto) -> None:
    # Given a task failing once, retried after 30 s with full jitter
    calls: Counter[str] = Counter()

    def flaky(event: dict[str, Any]) -> Any:
        calls["flaky"] += 1
        if calls["flaky"] == 1:
            raise InjectedFault("transient")
        return {"attempt": calls["flaky"]}

    arn = moto.function(f"{PREFIX}-retry-flaky", flaky)
    definition = {
        "StartAt": "Flaky",
        "States": {
            "Flaky": invoke(
                arn,
                ResultSelector={"attempt.$": "$.Payload.attempt"},
                Retry=[
                    {
                        "ErrorEquals": ["InjectedFault"],
                        "IntervalSeconds": 30,
                        "MaxAttempts": 3,
                        "BackoffRate": 2.0,
                        "MaxDelaySeconds": 60,
                        "JitterStrategy": "FULL",
                    }
                ],
                End=True,
            )
        },
    }
    moto.sleeps.clear()
    # When it runs
    started = time.perf_counter()
    done = moto.run(definition, "retry", {})
    elapsed = time.perf_counter() - started
    # Then the retry succeeded at once: the interval went through the hook
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"]) == {"attempt": 2}
    assert len(moto.sleeps) == 1
    assert 0 <= moto.sleeps[0] <= 30
    assert elapsed < 5
