"""Every malformed input gets a clear 4xx, never a 500, and changes nothing: the webhooks, the
REST API and the signal endpoint through the local API Gateway (the real handlers), the
WebSocket API and MCP on the live server. Sizes are checked before a body is read."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx2
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from fixloop.channels import slack
from fixloop.local.live import LiveServer
from fixloop.store import stores
from tests.integration.channels import Channels, slack_event
from tests.runtime import LocalRuntime
from tests.security.inputs import (
    deep,
    github_headers,
    linear_headers,
    nothing_reached,
    send,
    slack_headers,
    waiting,
)

NOT_UTF8 = b'{"text": "\xff\xfe caf\xe9"}'


def _refused(answer: tuple[int, dict[str, Any]], status: int, needle: str) -> None:
    code, body = answer
    assert code == status, (code, body)
    assert needle in body.get("message", body.get("refused", "")), body


def test_malformed_webhook_bodies_get_a_4xx_and_store_nothing(
    channels: Channels, inv_id: str
) -> None:
    url = channels.url
    comment = {
        "action": "created",
        "pull_request": {"number": 1, "head": {"ref": f"fixloop/{inv_id}"}},
        "comment": {"body": {"not": "text"}, "author_association": "MEMBER"},
    }
    github: list[tuple[bytes, str]] = [
        (b"[1, 2]", "Input should be a valid dictionary"),  # signed, but a list
        (NOT_UTF8, "not UTF-8"),
        (deep(), "nested more than 64 levels"),
        (json.dumps(comment).encode(), "comment.body: Input should be a valid string"),
        (json.dumps({"pull_request": "x"}).encode(), "pull_request"),
    ]
    for body, needle in github:
        _refused(send(url, "/webhooks/github", body, github_headers(body)), 400, needle)

    # Slack: a 400-digit timestamp is no timestamp; then bodies that are not an event
    event = json.dumps(slack_event("1.0", "hi")).encode()
    stamp = "9" * 400
    assert send(url, "/webhooks/slack", event, slack_headers(event, stamp))[0] == 401
    not_event = json.dumps({"type": "event_callback", "event": [1]}).encode()
    for body, needle in [
        (NOT_UTF8, "not UTF-8"),
        (deep(), "nested"),
        (not_event, "event: Input should be a valid dictionary"),
        (b"[]", "valid dictionary"),
    ]:
        _refused(send(url, "/webhooks/slack", body, slack_headers(body)), 400, needle)

    # Linear: a comment whose data is a list, a 400-digit timestamp, bad bytes
    fresh = int(time.time() * 1000)
    listed = {"type": "Comment", "action": "create", "webhookTimestamp": fresh, "data": [1]}
    huge_stamp = {"type": "Comment", "action": "create", "webhookTimestamp": int("9" * 400)}
    for body, needle in [
        (json.dumps(listed).encode(), "data: Input should be a valid dictionary"),
        (json.dumps(huge_stamp).encode(), "webhookTimestamp"),
        (NOT_UTF8, "not UTF-8"),
        (deep(), "nested"),
    ]:
        _refused(send(url, "/webhooks/linear", body, linear_headers(body)), 400, needle)

    time.sleep(0.3)  # (a Slack event would be processed asynchronously)
    assert nothing_reached(inv_id) and waiting(inv_id)


def test_a_slack_message_of_the_wrong_shape_is_refused_when_processed(inv_id: str) -> None:
    # Given a verified event whose message has an object for its text
    thread = stores().investigations.get(inv_id).slack_thread_ts
    payload = slack_event(thread, "x")
    payload["event"]["text"] = {"type": "rich_text"}
    # When the asynchronous half processes it, it is refused, not a crash
    result = slack.process(payload)
    assert result.startswith("refused: Slack message is not what was expected: text")
    assert nothing_reached(inv_id) and waiting(inv_id)


def test_malformed_rest_and_signal_requests_get_a_4xx(channels: Channels, inv_id: str) -> None:
    url = channels.url
    path = f"/investigations/{inv_id}/messages"
    for body in (NOT_UTF8, deep(), b"[1]", b'{"text": 5}'):
        assert send(url, path, body, {"Content-Type": "application/json"})[0] == 400
    # an id no investigation can have, a position that is not one, a limit that is not a number
    assert send(url, "/investigations/" + "x" * 3000, b"", method="GET")[0] == 404
    assert send(url, "/investigations/..%2F..%2Fetc", b"", method="GET")[0] == 404
    _refused(
        send(url, f"/investigations/{inv_id}?after={'t' * 5000}", b"", method="GET"),
        400,
        "not a position",
    )
    status, page = send(url, f"/investigations/{inv_id}?limit=%C2%B2%C2%B2", b"", method="GET")
    assert status == 200 and page["investigation"]["investigation_id"] == inv_id
    # the signal endpoint
    for body, needle in [
        (NOT_UTF8, "not UTF-8"),
        (deep(), "nested"),
        (b"[1]", "a signal must be a JSON object"),
    ]:
        _refused(send(url, "/signals", body, {"Content-Type": "application/json"}), 400, needle)
    assert nothing_reached(inv_id) and waiting(inv_id)


def test_a_declared_oversized_body_is_refused_before_it_is_read(channels: Channels) -> None:
    # Given a request that declares 50 MB and sends none of it
    parts = urlsplit(channels.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(
            b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 50000000\r\n\r\n"
        )
        # Then the answer comes at once: nothing waited for the body
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
            if b"bytes" in answer:
                break
    answer_text = answer.decode()
    assert answer_text.startswith("HTTP/1.1 413"), answer_text
    assert "10,485,760 bytes" in answer_text


@pytest.fixture(scope="module")
def live(runtime: LocalRuntime) -> Iterator[LiveServer]:
    with LiveServer(runtime) as server:
        yield server


def test_malformed_websocket_messages_get_an_error_and_the_connection_lives(
    live: LiveServer,
) -> None:
    with connect(live.ws_url, open_timeout=10, max_size=2**22) as ws:
        # deeply nested JSON, a binary frame, a wrong type, an id no investigation has
        for frame in (
            deep().decode(),
            b"\xff\x00binary",
            json.dumps({"action": "subscribe", "investigation_id": 5}),
            json.dumps({"action": "subscribe", "investigation_id": "../../x"}),
        ):
            ws.send(frame)
            reply = json.loads(ws.recv(timeout=10))
            assert reply["kind"] == "error", reply
        # the connection still answers
        ws.send(json.dumps({"action": "list"}))
        assert json.loads(ws.recv(timeout=10))["kind"] == "investigations"
        # And a message over API Gateway's 128 KB closes it (1009), as AWS does
        ws.send("x" * 200_000)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


def test_malformed_mcp_requests_get_a_4xx(live: LiveServer) -> None:
    headers = {
        "Authorization": f"Bearer {live.token}",
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
    }
    url = f"{live.url}/mcp/"
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"pad": "x" * 70_000}}
    resp = httpx2.post(url, content=json.dumps(call).encode(), headers=headers)
    assert resp.status_code == 413 and "64,000 bytes" in resp.text
    for body in (NOT_UTF8, deep(), b"[[[[1]]]]", b"{not json"):
        resp = httpx2.post(url, content=body, headers=headers)
        assert 400 <= resp.status_code < 500, (body[:20], resp.status_code, resp.text)
