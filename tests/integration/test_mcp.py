"""The MCP server over streamable HTTP, driven by the mcp SDK's own client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from fixloop.local.live import LiveServer
from fixloop.store import stores
from tests.integration.scenario import run_scripted, start_scripted
from tests.runtime import LocalRuntime
from tests.support import text, tool_use, wait_for


@pytest.fixture(scope="module")
def live(runtime: LocalRuntime) -> Iterator[LiveServer]:
    with LiveServer(runtime) as server:
        yield server


async def _session_calls(
    url: str, token: str, calls: list[tuple[str, dict[str, Any]]]
) -> tuple[list[str], list[Any]]:
    client = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
    async with (
        client,
        streamable_http_client(url, http_client=client) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        tools = [t.name for t in (await session.list_tools()).tools]
        results = []
        for name, args in calls:
            result = await session.call_tool(name, args)
            assert not result.is_error, result
            results.append(result.structured_content)
        return tools, results


def test_list_read_and_post_through_the_mcp_sdk(
    live: LiveServer, runtime: LocalRuntime, repo: Path, tmp_path: Path
) -> None:
    # Given a finished investigation, and another whose agent waits on a question
    turns = [[text("Reading the handler."), tool_use("finish", summary="Nothing to fix")]]
    summary = run_scripted(runtime, repo, turns, tmp_path / "s.jsonl")
    inv = summary.investigation.investigation_id
    asking = start_scripted(
        repo,
        [
            [tool_use("ask_human", question="Retry or fail fast?")],
            [tool_use("finish", summary="Retrying, as asked.")],
        ],
        tmp_path / "ask.jsonl",
    )
    wait_for(lambda: stores().waits.get(asking) is not None, what="the question")
    # When an MCP client lists investigations, reads the finished one, answers the question
    # and posts to the finished one
    calls: list[tuple[str, dict[str, Any]]] = [
        ("list_investigations", {}),
        ("read_investigation", {"investigation_id": inv, "limit": 2}),
        ("read_investigation", {"investigation_id": inv, "after": "t000000.9"}),
        ("answer_question", {"investigation_id": asking, "answer": "retry"}),
        ("post_message", {"investigation_id": inv, "text": "please also check the retries"}),
    ]
    tools, (listed, read, page2, answered, refused) = anyio.run(
        _session_calls, f"{live.url}/mcp/", live.token, calls
    )
    # Then it sees the tools, the investigation with its status and outcome, its events in
    # pages
    assert {
        "list_investigations",
        "read_investigation",
        "post_message",
        "answer_question",
        "approve",
    } <= set(tools)
    items = listed["result"]
    mine = next(i for i in items if i["investigation_id"] == inv)
    assert mine["status"] == "finished" and mine["outcome"] == "Nothing to fix"
    assert read["investigation"]["status"] == "finished"
    # (the repository overview's gathering is listed before turn 0's signal)
    assert [e["type"] for e in read["events"]][:2] == ["context_gathering", "signal"]
    assert len(read["events"]) == 2
    assert any("Reading the handler." in e["text"] for e in page2["events"])
    assert all(e["type"] != "stream_chunk" for e in page2["events"])
    # And the answer resumed the waiting agent, which read it as its question's result
    assert answered["posted"] is True and answered["resumed"] is True
    assert runtime.watcher.wait(asking, timeout_s=60).status == "finished"
    [reply] = [e.event for e in stores().events.read(asking) if e.event.type == "user_message"]
    assert (reply.text, reply.channel, reply.author) == ("Answer: retry", "mcp", "mcp")
    assert reply.in_reply_to
    # And a message for the finished investigation is refused with the reason, not stored
    assert refused["posted"] is False and refused["outcome"] == "closed"
    assert refused["status"] == "finished"
    assert not [e for e in stores().events.read(inv) if e.event.type == "user_message"]


def test_requests_without_the_token_are_refused(live: LiveServer) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    for headers in ({}, {"Authorization": "Bearer nope"}):
        resp = httpx2.post(f"{live.url}/mcp/", json=body, headers=headers)
        assert resp.status_code == 401
        assert json.loads(resp.text)["error"] == "unauthorized"
