"""The local stand-in for Lambda's DynamoDB event source mapping (moto's stream, GetRecords)."""

from __future__ import annotations

import secrets
import threading
import time
from typing import Any

from fixloop.config import get_settings
from fixloop.domain import UserMessage
from fixloop.domain.events import position
from fixloop.local.live import StreamPump
from fixloop.store import stores
from tests.runtime import LocalRuntime


def test_records_arrive_in_order_and_a_reported_failure_is_retried_from_there(
    runtime: LocalRuntime,
) -> None:
    # Given a pump on the Events stream whose handler fails one record the first time
    inv = f"inv-pump-{secrets.token_hex(4)}"
    seen: list[str] = []
    failed_once: set[str] = set()
    lock = threading.Lock()

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        failures = []
        for record in event["Records"]:
            assert record["eventSourceARN"].startswith("arn:aws:dynamodb:")
            image = record["dynamodb"]["NewImage"]
            if image["pk"]["S"] != inv:
                continue
            sk = image["sk"]["S"]
            if sk.endswith("m03") and sk not in failed_once:
                failed_once.add(sk)
                failures.append({"itemIdentifier": record["dynamodb"]["SequenceNumber"]})
                break  # like BatchProcessor's caller: stop at the first failure
            with lock:
                seen.append(sk)
        return {"batchItemFailures": failures}

    pump = StreamPump(get_settings().events_table, handler, poll_s=0.01)
    pump.start()
    try:
        # When six events are written
        expected = [position(1, 0, f"m{i:02d}") for i in range(6)]
        for pos in expected:
            stores().events.append(inv, pos, UserMessage(text=pos))
        deadline = time.monotonic() + 20
        while len(seen) < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        pump.stop()
    # Then the handler saw each in write order, the failed one again until it succeeded
    assert seen == expected
    assert failed_once == {position(1, 0, "m03")}
    assert pump.dropped == 0
