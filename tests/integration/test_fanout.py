"""The stream fan-out handler: partial batch failures, gone connections, size limits."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from boto3.dynamodb.types import TypeSerializer

from fixloop.domain import ToolResult, UserMessage
from fixloop.domain.events import EVENT_ADAPTER, tool_result_position
from fixloop.live.client import LiveFollower
from fixloop.live.messages import FRAME_BYTES
from fixloop.live.websocket import connections
from fixloop.local.handlers import LocalLambdaContext
from fixloop.local.live import LiveServer, _handler
from fixloop.store import stores
from tests.runtime import LocalRuntime

_SER = TypeSerializer()


@pytest.fixture(scope="module")
def live(runtime: LocalRuntime) -> Iterator[LiveServer]:
    with LiveServer(runtime) as server:
        yield server


def _record(seq: int, item: dict[str, Any], event_name: str = "INSERT") -> dict[str, Any]:
    image = {k: _SER.serialize(v) for k, v in item.items()}
    return {
        "eventID": f"e{seq}",
        "eventName": event_name,
        "eventSource": "aws:dynamodb",
        "eventVersion": "1.1",
        "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/fixloop-events/stream/x",
        "dynamodb": {
            "Keys": {"pk": image["pk"], "sk": image["sk"]},
            "NewImage": image,
            "SequenceNumber": str(seq),
            "SizeBytes": 100,
            "StreamViewType": "NEW_IMAGE",
        },
    }


def _item(inv: str, position: str, event: Any) -> dict[str, Any]:
    return {
        "pk": inv,
        "sk": position,
        "type": event.type,
        "at": event.at.isoformat(),
        "body": EVENT_ADAPTER.dump_json(event).decode(),
    }


def _subscribed(live: LiveServer, inv: str) -> LiveFollower:
    follower = LiveFollower(live.ws_url, inv)
    follower.connect()
    return follower


def test_partial_failures_and_gone_connections(live: LiveServer) -> None:
    from fixloop.domain import Investigation

    # Given an investigation with one live subscriber and one connection that went away
    # without a $disconnect (still in the Connections table)
    inv = f"inv-fan-{secrets.token_hex(4)}"
    stores().investigations.create(
        Investigation(investigation_id=inv, title="t", repo="r", model="scripted:x")
    )
    follower = _subscribed(live, inv)
    follower.until(lambda f: any(m["kind"] == "subscribed" for m in f.other), 10)
    connections().connect("ghost-connection", "someone")
    connections().subscribe("ghost-connection", inv)
    # When a batch of three records reaches the handler, the second one unreadable
    big = "x" * (3 * FRAME_BYTES)
    good1 = _item(inv, tool_result_position(1, 0), UserMessage(text="hello"))
    broken = {"pk": inv, "sk": tool_result_position(1, 1), "type": "tool_result"}  # no body
    good2 = _item(
        inv, tool_result_position(1, 2), ToolResult(turn=1, tool_use_id="t", name="n", content=big)
    )
    event = {"Records": [_record(101, good1), _record(102, broken), _record(103, good2)]}
    handler = _handler("stream_fanout")
    result = handler(event, LocalLambdaContext("fixloop-stream_fanout"))
    # Then only the broken record is reported, for the event source to retry from there
    assert result == {"batchItemFailures": [{"itemIdentifier": "102"}]}
    # ... the subscriber got both good events, the large one in parts joined again
    follower.until(lambda f: len(f.events) >= 2, 10)
    assert [e.position for e in follower.events] == [
        tool_result_position(1, 0),
        tool_result_position(1, 2),
    ]
    assert follower.events[1].event["content"] == big
    # ... and the connection that was gone is forgotten
    assert connections().subscribers(inv) == [follower_connection(inv)]
    follower.close()


def follower_connection(inv: str) -> str:
    subs = connections().subscribers(inv)
    assert "ghost-connection" not in subs
    assert len(subs) == 1
    return subs[0]


def test_modifications_and_removals_are_not_news(live: LiveServer) -> None:
    inv = f"inv-fan-{secrets.token_hex(4)}"
    item = _item(inv, tool_result_position(1, 0), UserMessage(text="x"))
    handler = _handler("stream_fanout")
    event = {"Records": [_record(7, item, "MODIFY"), _record(8, item, "REMOVE")]}
    assert handler(event, LocalLambdaContext("f")) == {"batchItemFailures": []}


def test_messages_respect_the_frame_limit() -> None:
    from fixloop.live.messages import MAX_SPLIT_BYTES, event_messages
    from fixloop.store import StoredEvent

    # Given events of 1 KB, 100 KB and 1 MB (one with characters JSON must escape)
    for size in (1_000, 100_000, 1_000_000):
        content = ('"quoted"\n' * (size // 9))[:size]
        stored = StoredEvent(
            "inv", "t000001.2.000", ToolResult(turn=1, tool_use_id="t", name="n", content=content)
        )
        # When it is turned into WebSocket messages
        messages = event_messages(stored)
        # Then each message fits one 32 KB frame, and joined they give the event back
        assert all(len(m.encode()) <= 32 * 1024 for m in messages)
        first = json.loads(messages[0])
        if first["kind"] == "event":
            assert len(messages) == 1
            joined = first
        else:
            joined = json.loads("".join(json.loads(m)["data"] for m in messages))
        if size > MAX_SPLIT_BYTES:
            # ... except that an event beyond what is split is sent shortened, and says so
            assert joined["truncated"] is True
            assert "more characters in the log" in joined["event"]["content"]
        else:
            assert joined["event"]["content"] == content
