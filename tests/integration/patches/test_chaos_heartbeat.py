"""patches.chaos_heartbeat: a waiting task's heartbeat clock runs during the Lambda invocation
that hands its token over (moto starts it only once the invocation returned)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.integration.patches.harness import PREFIX, Moto
from tests.support import chaos

INVOKE_S = 2.5
"""How long the handing-over invocation takes: past a 1 s heartbeat interval."""


def _machine(moto: Moto, name: str, *, beat: bool, refused: list[str]) -> str:
    """A callback task (HeartbeatSeconds 1) whose function takes INVOKE_S, heartbeating every
    0.3 s if ``beat``, then answers its token; heartbeats refused are kept in ``refused``."""
    sfn = moto.client("stepfunctions")

    def hand_over(event: dict[str, Any]) -> Any:
        token = event["token"]
        deadline = time.monotonic() + INVOKE_S
        while time.monotonic() < deadline:
            time.sleep(0.3)
            if beat:
                try:
                    sfn.send_task_heartbeat(taskToken=token)
                except sfn.exceptions.ClientError as exc:
                    refused.append(exc.response["Error"]["Code"])
        sfn.send_task_success(taskToken=token, output=json.dumps({"answered": True}))
        return {"handed_over": True}

    arn = moto.function(f"{PREFIX}-{name}", hand_over)
    return moto.state_machine(
        f"{PREFIX}-{name}",
        {
            "StartAt": "Wait",
            "States": {
                "Wait": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                    "Parameters": {"FunctionName": arn, "Payload": {"token.$": "$$.Task.Token"}},
                    "HeartbeatSeconds": 1,
                    "TimeoutSeconds": 30,
                    "Catch": [
                        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Lost"}
                    ],
                    "End": True,
                },
                "Lost": {"Type": "Pass", "End": True},
            },
        },
    )


@pytest.mark.parametrize("clock", [True, False], ids=["heartbeat_clock", "moto"])
def test_an_invocation_longer_than_the_heartbeat_times_out_unless_it_beats(
    moto: Moto, clock: bool
) -> None:
    # Given a callback task whose function hands the token over silently, and one whose
    # function heartbeats, both taking longer than the heartbeat interval
    refused: list[str] = []
    silent = _machine(moto, f"hb-silent-{clock}", beat=False, refused=refused)
    beating = _machine(moto, f"hb-beating-{clock}", beat=True, refused=refused)
    with chaos("heartbeat_clock" if clock else ""):
        # When each runs
        started = time.monotonic()
        silent_done = moto.wait(moto.start(silent, "silent", {}), timeout_s=15)
        silent_s = time.monotonic() - started
        beating_done = moto.wait(moto.start(beating, "beating", {}), timeout_s=15)

    if clock:
        # Then with AWS's clock the silent one times out while its invocation still runs,
        # and the other's heartbeats during its invocation are accepted
        assert json.loads(silent_done["output"])["error"]["Error"] == "States.Timeout"
        assert silent_s < INVOKE_S
        assert json.loads(beating_done["output"]) == {"answered": True}
        assert refused == []
    else:
        # Whereas moto never times the silent one out, and refuses every early heartbeat
        assert json.loads(silent_done["output"]) == {"answered": True}
        assert json.loads(beating_done["output"]) == {"answered": True}
        assert refused and set(refused) == {"InvalidToken"}
