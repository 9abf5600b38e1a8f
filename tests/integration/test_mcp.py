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
from fixloop.local.runtime import EmbeddedRuntime
from fixloop.store import stores
from tests.integration.scenario import run_scripted
from tests.support import text, tool_use


@pytest.fixture(scope="module")
def live(runtime: EmbeddedRuntime) -> Iterator[LiveServer]:
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
    live: LiveServer, runtime: EmbeddedRuntime, repo: Path, tmp_path: Path
) -> None:
    # Given a finished investigation
    turns = [[text("Reading the handler."), tool_use("finish", summary="Nothing to fix")]]
    summary = run_scripted(runtime, repo, turns, tmp_path / "s.jsonl")
    inv = summary.investigation.investigation_id
    # When an MCP client lists investigations, reads this one and posts a message
    calls: list[tuple[str, dict[str, Any]]] = [
        ("list_investigations", {}),
        ("read_investigation", {"investigation_id": inv, "limit": 2}),
        ("read_investigation", {"investigation_id": inv, "after": "t000000.9"}),
        ("post_message", {"investigation_id": inv, "text": "please also check the retries"}),
    ]
    tools, (listed, read, page2, posted) = anyio.run(
        _session_calls, f"{live.url}/mcp/", live.token, calls
    )
    # Then it sees the tools, the investigation with its status and outcome, its events in
    # pages, and its message is in the log
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
    assert [e["type"] for e in read["events"]][:1] == ["signal"]
    assert len(read["events"]) == 2
    assert any("Reading the handler." in e["text"] for e in page2["events"])
    assert all(e["type"] != "stream_chunk" for e in page2["events"])
    assert posted == {"investigation_id": inv, "posted": True}
    messages = [e.event for e in stores().events.read(inv) if e.event.type == "user_message"]
    assert [(m.text, m.channel, m.author) for m in messages] == [
        ("please also check the retries", "mcp", "mcp")
    ]


def test_requests_without_the_token_are_refused(live: LiveServer) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    for headers in ({}, {"Authorization": "Bearer nope"}):
        resp = httpx2.post(f"{live.url}/mcp/", json=body, headers=headers)
        assert resp.status_code == 401
        assert json.loads(resp.text)["error"] == "unauthorized"
