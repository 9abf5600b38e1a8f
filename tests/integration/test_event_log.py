"""The event log on DynamoDB (moto through boto3): idempotent, ordered, paged, offloaded."""

from __future__ import annotations

import secrets

from fixloop import aws
from fixloop.config import get_settings
from fixloop.domain import ToolResult, UserMessage
from fixloop.domain.events import tool_result_position
from fixloop.store import EventLog, stores
from fixloop.store.events import MAX_INLINE_BODY_BYTES
from tests.runtime import LocalRuntime


def _inv() -> str:
    return f"inv-test-{secrets.token_hex(4)}"


def test_first_writer_wins_and_a_retry_reads_the_first(runtime: LocalRuntime) -> None:
    # Given an event written at a position
    log, inv = stores().events, _inv()
    pos = tool_result_position(1, 0)
    first = ToolResult(turn=1, tool_use_id="a", name="x", content="first")
    assert log.append(inv, pos, first) is True
    # When a retried step writes a different body at the same position
    again = ToolResult(turn=1, tool_use_id="a", name="x", content="second")
    # Then nothing is overwritten or duplicated
    assert log.append(inv, pos, again) is False
    assert log.get(inv, pos) == first
    assert log.count(inv) == 1


def test_read_pages_in_order_and_after_a_position(runtime: LocalRuntime) -> None:
    # Given 120 events of ~12 KB, more than one 1 MB query page, written out of order
    log, inv = stores().events, _inv()
    body = "x" * 12_000
    for i in reversed(range(120)):
        log.append(inv, f"t{i:06d}.0.msg", UserMessage(text=f"{i} {body}"))
    # When the log is read, whole and after a position
    everything = [e.position for e in log.read(inv)]
    tail = [e.position for e in log.read(inv, after="t000099.0.msg")]
    # Then it is complete and in position order, across pages
    assert everything == [f"t{i:06d}.0.msg" for i in range(120)]
    assert tail == [f"t{i:06d}.0.msg" for i in range(100, 120)]
    assert [e.position for e in log.read(inv, limit=5)] == everything[:5]
    assert log.count(inv) == 120


def test_an_event_too_large_for_an_item_goes_to_s3(runtime: LocalRuntime) -> None:
    # Given a tool result larger than a DynamoDB item may hold
    log, inv = stores().events, _inv()
    big = ToolResult(turn=2, tool_use_id="b", name="x", content="y" * (MAX_INLINE_BODY_BYTES + 1))
    # When it is appended and read back
    assert log.append(inv, tool_result_position(2, 0), big)
    # Then the item references an S3 object and reading returns the whole event
    item = (
        aws.resource("dynamodb")
        .Table(get_settings().events_table)
        .get_item(Key={"pk": inv, "sk": tool_result_position(2, 0)})["Item"]
    )
    assert "body" not in item
    assert item["blob_key"].startswith(f"events/{inv}/")
    assert log.get(inv, tool_result_position(2, 0)) == big
    assert [e.event for e in log.read(inv)] == [big]


def test_an_event_seen_once_is_read_again_without_a_request(runtime: LocalRuntime) -> None:
    # Given a log whose GetItem requests are counted
    log, inv = stores().events, _inv()
    requests: list[str] = []
    client = aws.resource("dynamodb").meta.client

    def count(params: dict[str, object], **_: object) -> None:
        if params.get("TableName") == get_settings().events_table:
            requests.append(str(params.get("Key")))

    client.meta.events.register("provide-client-params.dynamodb.GetItem", count)
    try:
        written = ToolResult(turn=3, tool_use_id="c", name="x", content="kept")
        pos = tool_result_position(3, 0)
        # When an event this process wrote is read, twice
        assert log.append(inv, pos, written)
        first, second = log.get(inv, pos), log.get(inv, pos)
        # Then it costs no request, and each read is its own copy
        assert first == second == written
        assert first is not second
        assert requests == []
        # An absent position is asked every time: another writer may fill it
        other = tool_result_position(3, 1)
        assert log.get(inv, other) is None
        late = ToolResult(turn=3, tool_use_id="d", name="x", content="late")
        another_process = EventLog(
            aws.resource("dynamodb").Table(get_settings().events_table), stores().blobs
        )
        assert another_process.append(inv, other, late)
        assert log.get(inv, other) == late
        assert len(requests) == 2
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb.GetItem", count)
