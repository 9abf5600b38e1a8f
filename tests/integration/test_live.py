"""Live streaming on the embedded runtime: chunks in the log, the stream fan-out to WebSocket
subscribers through the local API Gateway stand-in, replay and reconnect."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from fixloop.domain.events import AssistantMessage, StreamChunk, assistant_position
from fixloop.live.client import LiveFollower
from fixloop.local.live import LiveServer
from fixloop.store import stores
from fixloop.tools import Tool, ToolContext
from tests.integration.scenario import log_of, start_scripted
from tests.runtime import LocalRuntime
from tests.support import extra_tools, text, thinking, tool_use

GATES: dict[str, threading.Event] = {}


class _Gate(BaseModel):
    gate: str


def _wait_gate(ctx: ToolContext, args: _Gate) -> str:
    gate = GATES.setdefault(args.gate, threading.Event())
    gate.wait(timeout=60)
    return f"gate {args.gate} opened"


@pytest.fixture(scope="module", autouse=True)
def gate_tool() -> Iterator[None]:
    with extra_tools(Tool("gate", "Wait until the test opens the named gate.", _Gate, _wait_gate)):
        yield


@pytest.fixture(scope="module")
def live(runtime: LocalRuntime) -> Iterator[LiveServer]:
    with LiveServer(runtime) as server:
        yield server


def _gated_turns(prefix: str, n: int) -> list[list[dict[str, object]]]:
    turns: list[list[dict[str, object]]] = [
        [thinking(f"turn {t}: what next"), text(f"step {t}"), tool_use("gate", gate=f"{prefix}{t}")]
        for t in range(1, n + 1)
    ]
    turns.append([tool_use("finish", summary="done")])
    return turns


def _open(name: str) -> None:
    GATES.setdefault(name, threading.Event()).set()


def _wait_log(investigation_id: str, predicate: object, timeout_s: float = 30) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate(log_of(investigation_id)):  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise TimeoutError("log condition not met")


def test_model_turns_stream_chunks_before_the_final_message(
    live: LiveServer, repo: Path, tmp_path: Path
) -> None:
    # Given an investigation whose turns think and speak before calling a tool
    inv = start_scripted(repo, _gated_turns("c", 1), tmp_path / "s.jsonl")
    _open("c1")
    # When it runs to the end
    _wait_log(inv, lambda log: any(e.event.type == "delivered" for e in log))
    log = log_of(inv)
    # Then each model turn wrote chunk events before its assistant message, and the chunks
    # hold exactly the streamed text, thinking and tool input of that message
    for turn in (1, 2):
        chunks = [e for e in log if isinstance(e.event, StreamChunk) and e.event.turn == turn]
        final = next(e for e in log if e.position == assistant_position(turn))
        assert isinstance(final.event, AssistantMessage)
        assert chunks, f"turn {turn} streamed nothing"
        assert all(c.position < final.position for c in chunks)
        fragments = [
            f for c in chunks if isinstance(c.event, StreamChunk) for f in c.event.fragments
        ]
        assert {c.event.attempt for c in chunks if isinstance(c.event, StreamChunk)} == {0}
        for index, block in enumerate(final.event.content):
            streamed = "".join(f.text for f in fragments if f.index == index)
            expected = {
                "text": block.get("text"),
                "thinking": block.get("thinking"),
                "tool_use": json.dumps(block.get("input")),
            }[block["type"]]
            assert streamed == expected


def test_subscribe_mid_run_disconnect_reconnect_gets_every_event_once_in_order(
    live: LiveServer, repo: Path, tmp_path: Path
) -> None:
    # Given a running investigation paused in its second turn's tool call
    inv = start_scripted(repo, _gated_turns("r", 4), tmp_path / "s.jsonl")
    _open("r1")
    _wait_log(inv, lambda log: any(e.position.startswith("t000002.1.assistant") for e in log))
    log_now = [e.position for e in log_of(inv)]
    middle = log_now[len(log_now) // 2]
    # When a follower subscribes after a position in the middle of what exists
    follower = LiveFollower(live.ws_url, inv)
    follower.connect(after=middle)
    follower.until(lambda f: f.positions and f.positions[-1] == log_now[-1])
    # ... it gets the rest of the log, then live events as the run goes on
    _open("r2")
    follower.until(lambda f: any(p.startswith("t000003.1.assistant") for p in f.positions))
    # ... disconnects while the run continues, and reconnects from what it saw
    follower.close()
    _open("r3")
    _wait_log(inv, lambda log: any(e.position.startswith("t000004.1.assistant") for e in log))
    follower.connect(resume=True)
    _open("r4")
    follower.until(lambda f: any(f.event["type"] == "delivered" for f in f.events), 60)
    follower.pump(0.3)
    follower.close()
    # Then it received every event after its first position exactly once, in log order
    expected = [e.position for e in log_of(inv) if e.position > middle]
    assert follower.positions == expected
    assert len(set(follower.positions)) == len(follower.positions)
    # ... with streamed chunks among them, and the acknowledgements of both subscriptions
    assert any(e.event["type"] == "stream_chunk" for e in follower.events)
    assert [m["kind"] for m in follower.other].count("subscribed") == 2
    # And every message it was sent (replayed or fanned out) is counted for the cost
    sent = stores().investigations.get(inv).websocket_messages
    assert sent >= len(follower.positions)


def test_send_posts_a_message_the_next_turn_reads(
    live: LiveServer, repo: Path, tmp_path: Path
) -> None:
    # Given a follower of a running investigation
    inv = start_scripted(repo, _gated_turns("m", 2), tmp_path / "s.jsonl")
    follower = LiveFollower(live.ws_url, inv)
    follower.connect()
    follower.until(lambda f: any(p.startswith("t000001.1.assistant") for p in f.positions))
    # When it sends a message
    follower.send({"action": "send", "investigation_id": inv, "text": "look at the coupon code"})
    follower.until(lambda f: any(m["kind"] == "sent" for m in f.other))
    # Then, once the turn's tools are done, the inbox gives the message to the next turn: it
    # is in the log before turn 2, and comes back live as an event
    _open("m1")
    follower.until(lambda f: any(e.event["type"] == "user_message" for e in f.events))
    message = next(e for e in follower.events if e.event["type"] == "user_message")
    assert message.event["text"] == "look at the coupon code"
    assert message.event["channel"] == "web"
    assert message.position.startswith("t000002.0.")
    _open("m2")
    follower.close()


def test_connect_without_the_token_is_refused(live: LiveServer) -> None:
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    with pytest.raises(InvalidStatus) as err:
        connect(live.ws_url.split("?")[0] + "?token=wrong", open_timeout=5)
    assert err.value.response.status_code == 403


def test_bad_requests_get_an_error_message(live: LiveServer) -> None:
    follower = LiveFollower(live.ws_url, "inv-missing")
    follower.connect()
    follower.until(lambda f: any(m["kind"] == "error" for m in f.other), 10)
    assert "no investigation" in follower.other[-1]["message"]
    follower.send({"action": "dance"})
    follower.until(lambda f: sum(m["kind"] == "error" for m in f.other) == 2, 10)
    assert "unknown action" in follower.other[-1]["message"]
    follower.close()


def test_subscriptions_are_forgotten_on_disconnect(
    live: LiveServer, repo: Path, tmp_path: Path
) -> None:
    from fixloop.live.websocket import connections

    inv = start_scripted(repo, _gated_turns("d", 1), tmp_path / "s.jsonl")
    follower = LiveFollower(live.ws_url, inv)
    follower.connect()
    follower.until(lambda f: any(m["kind"] == "subscribed" for m in f.other))
    assert len(connections().subscribers(inv)) == 1
    follower.close()
    _wait_log(inv, lambda _log: not connections().subscribers(inv), 10)
    _open("d1")
    assert stores().investigations.get(inv)


def test_subscribers_get_views_and_the_summary_before_the_acknowledgement(
    live: LiveServer, repo: Path, tmp_path: Path
) -> None:
    # Given an investigation that has read a file and is paused in its next tool call
    turns = [
        [text("Reading the handler."), tool_use("read_file", path="app/handler.py")],
        [text("Waiting."), tool_use("gate", gate="v1")],
        [tool_use("finish", summary="done")],
    ]
    inv = start_scripted(repo, turns, tmp_path / "s.jsonl")
    _wait_log(inv, lambda log: any(e.position.startswith("t000002.1.assistant") for e in log))
    # When a follower subscribes
    follower = LiveFollower(live.ws_url, inv)
    follower.connect()
    follower.until(lambda f: any(m["kind"] == "subscribed" for m in f.other))
    # Then the events came with what the page shows of them: the signal with its service,
    # the call as a card, the result as numbered code
    signal = next(e for e in follower.events if e.event["type"] == "signal")
    assert signal.view is not None and signal.view["source"] == "orders-5xx"
    message = next(e for e in follower.events if e.position == "t000001.1.assistant")
    assert message.view is not None
    call = message.view["blocks"][1]
    assert (call["kind"], call["title"]) == ("read", "Read app/handler.py")
    result = next(
        e for e in follower.events if e.event["type"] == "tool_result" and e.event["turn"] == 1
    )
    assert result.view is not None and result.view["numbers"] == [1, 2]
    # ... and the summary came after the replay and before the acknowledgement
    kinds = [m["kind"] for m in follower.other]
    assert kinds.index("investigation") < kinds.index("subscribed")
    summary = next(m for m in follower.other if m["kind"] == "investigation")["investigation"]
    assert summary["investigation_id"] == inv and summary["status"] == "running"
    assert summary["signal"] == {"kind": "alarm", "source": "orders-5xx"}
    assert summary["turns"] >= 1 and "cost" in summary
    # When the run ends, the summary comes again with the news
    _open("v1")
    follower.until(
        lambda f: any(
            m["kind"] == "investigation" and m["investigation"]["status"] == "finished"
            for m in f.other
        )
    )
    follower.close()


def test_list_subscribers_get_the_list_then_rows_as_they_change(
    live: LiveServer, repo: Path, tmp_path: Path
) -> None:
    from websockets.sync.client import connect

    from fixloop.live.views import investigation_row
    from fixloop.live.websocket import connections

    # Given a page subscribed to the list (an action with no API route of its own: $default)
    with connect(live.ws_url, open_timeout=10) as ws:
        ws.send(json.dumps({"action": "subscribe_list"}))
        first = json.loads(ws.recv(timeout=10))
        assert first["kind"] == "investigations"
        assert len(connections().list_subscribers()) == 1
        # When an investigation starts and runs to its end
        inv = start_scripted(repo, [[tool_use("finish", summary="ok")]], tmp_path / "s.jsonl")
        rows: list[dict[str, object]] = []
        while not rows or rows[-1]["status"] != "finished":
            msg = json.loads(ws.recv(timeout=30))
            if msg["kind"] == "investigation" and msg["investigation"]["investigation_id"] == inv:
                rows.append(msg["investigation"])
        # Then its row came when it started and again as it changed, ending finished
        assert rows[0]["status"] == "running"
        assert rows[0]["signal"] == {"kind": "alarm", "source": "orders-5xx"}
        assert rows[-1]["outcome"] == "ok"
        assert set(rows[-1]) == set(investigation_row(stores().investigations.get(inv)))
    # And the list subscription is forgotten with the connection
    _wait_log(inv, lambda _log: not connections().list_subscribers(), 10)
