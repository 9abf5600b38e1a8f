"""Prompt caching: where fixloop puts breakpoints, and the local server's accounting of them
(as the API documents it) seen through the real SDK."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from fixloop.errors import ModelError
from fixloop.llm import AnthropicModel, ModelRequest, ToolDefinition, anthropic_model
from fixloop.llm.caching import min_cacheable_tokens, place_breakpoints
from tests.fakes.messages import MessagesServer

MODEL = "claude-sonnet-5"  # minimum cacheable prefix: 1,024 tokens
LONG = "word " * 1200  # about 1,500 tokens


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def server(clock: Clock) -> Iterator[MessagesServer]:
    with MessagesServer(clock=clock) as running:
        yield running


@pytest.fixture
def client(server: MessagesServer) -> Iterator[anthropic.Anthropic]:
    sdk = anthropic.Anthropic(api_key="k", base_url=server.base_url, max_retries=0)
    yield sdk
    sdk.close()


@pytest.fixture
def model(server: MessagesServer) -> Iterator[AnthropicModel]:
    built = anthropic_model(MODEL, api_key="k", base_url=server.base_url, max_retries=0)
    yield built
    built.close()


def _marks(params: dict[str, Any]) -> list[tuple[str, int, dict[str, Any]]]:
    found = []
    for i, tool in enumerate(params.get("tools") or []):
        if "cache_control" in tool:
            found.append(("tools", i, tool["cache_control"]))
    system = params.get("system")
    for i, block in enumerate(system if isinstance(system, list) else []):
        if "cache_control" in block:
            found.append(("system", i, block["cache_control"]))
    for i, message in enumerate(params["messages"]):
        content = message["content"]
        for block in content if isinstance(content, list) else []:
            if "cache_control" in block:
                found.append(("message", i, block["cache_control"]))
    return found


def _conversation(turns: int, size: str = LONG) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "The checkout fails."}]
    for t in range(turns):
        use = {"type": "tool_use", "id": f"toolu_{t}", "name": "get_signal", "input": {}}
        messages.append({"role": "assistant", "content": [use]})
        result = {"type": "tool_result", "tool_use_id": f"toolu_{t}", "content": f"{t} {size}"}
        messages.append({"role": "user", "content": [result]})
    return messages


def test_breakpoints_go_on_the_system_prompt_the_previous_request_and_the_whole_prompt() -> None:
    # Given a long system prompt and three turns of conversation
    params = {"system": LONG, "messages": _conversation(3)}
    # When breakpoints are placed
    out = place_breakpoints(params, model=MODEL)
    # Then the system prompt, the message the previous request ended with and the last
    # message carry one each, with the default 5-minute TTL, and the input is untouched
    assert _marks(out) == [
        ("system", 0, {"type": "ephemeral"}),
        ("message", 4, {"type": "ephemeral"}),
        ("message", 6, {"type": "ephemeral"}),
    ]
    assert _marks(params) == []


def test_no_breakpoint_below_the_models_minimum_and_one_ttl_per_request() -> None:
    # Given a short system prompt and a first turn whose prompt is below 1,024 tokens
    params = {"system": "Be brief.", "messages": _conversation(1, size="short")}
    # When breakpoints are placed, none is wasted on the short prefix
    assert _marks(place_breakpoints(params, model=MODEL)) == []
    assert min_cacheable_tokens("us.anthropic.claude-haiku-4-5-20251001-v1:0") == 4096
    assert min_cacheable_tokens("claude-opus-5") == 512
    # And with the 1-hour TTL every breakpoint has it (1-hour entries come first)
    long = {"system": LONG, "messages": _conversation(2)}
    ttls = {m[2].get("ttl") for m in _marks(place_breakpoints(long, model=MODEL, ttl="1h"))}
    assert ttls == {"1h"}


def test_each_turn_reads_the_previous_prompt_from_the_cache(
    server: MessagesServer, model: AnthropicModel
) -> None:
    # Given three successive turns of one conversation sent through the SDK
    tools = [ToolDefinition(name="get_signal", description=LONG, input_schema={"type": "object"})]
    usages = []
    for turns in (1, 2, 3):
        server.enqueue([{"type": "text", "text": "ok"}])
        request = ModelRequest(system="sys", messages=_conversation(turns), tools=tools)
        usages.append(model.complete(request).usage)
    # Then the first writes its prompt, and each next one reads exactly the previous prompt
    # and writes only what the turn added
    first, second, third = usages
    assert first.cache_read_input_tokens == 0
    assert first.cache_creation_input_tokens == first.prompt_tokens
    assert second.cache_read_input_tokens == first.prompt_tokens
    assert second.cache_creation_input_tokens == second.prompt_tokens - first.prompt_tokens
    assert third.cache_read_input_tokens == second.prompt_tokens
    # And counting the prompt before sending it gives the size the usage reports
    count = model.count_tokens(
        ModelRequest(system="sys", messages=_conversation(3), tools=tools, cache=False)
    )
    assert count == third.prompt_tokens


def test_entries_expire_after_their_ttl_unless_read(
    server: MessagesServer, client: anthropic.Anthropic, clock: Clock
) -> None:
    # Given a prompt cached with a 5-minute and another with a 1-hour breakpoint
    def send(ttl: str) -> Any:
        server.enqueue([{"type": "text", "text": "ok"}])
        control = {"type": "ephemeral", "ttl": ttl}
        system: Any = [{"type": "text", "text": f"{ttl} {LONG}", "cache_control": control}]
        return client.messages.create(
            model=MODEL, max_tokens=10, system=system, messages=[{"role": "user", "content": "hi"}]
        ).usage

    assert send("5m").cache_creation_input_tokens > 0
    written = send("1h")
    assert written.cache_creation.ephemeral_1h_input_tokens == written.cache_creation_input_tokens
    # When 4 minutes pass, the 5-minute entry is read (which refreshes it)
    clock.now += 240
    assert send("5m").cache_read_input_tokens > 0
    # And after 6 more minutes it is still there (refreshed at minute 4), then gone 5 later
    clock.now += 290
    assert send("5m").cache_read_input_tokens > 0
    clock.now += 301
    assert send("5m").cache_read_input_tokens == 0
    # While the 1-hour entry outlives them all
    assert send("1h").cache_read_input_tokens > 0


def test_the_api_rules_on_breakpoints_are_enforced(
    server: MessagesServer, client: anthropic.Anthropic, model: AnthropicModel
) -> None:
    mark = {"type": "ephemeral"}
    five: Any = [{"type": "text", "text": f"part {i}", "cache_control": mark} for i in range(5)]
    # Given five breakpoints, the API refuses the request
    with pytest.raises(anthropic.BadRequestError, match="maximum of 4 blocks"):
        client.messages.create(
            model=MODEL, max_tokens=10, system=five, messages=[{"role": "user", "content": "x"}]
        )
    # And a 1-hour breakpoint after a 5-minute one
    mixed: Any = [
        {"type": "text", "text": "a", "cache_control": mark},
        {"type": "text", "text": "b", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
    ]
    with pytest.raises(anthropic.BadRequestError, match="1h"):
        client.messages.create(
            model=MODEL, max_tokens=10, system=mixed, messages=[{"role": "user", "content": "x"}]
        )
    # While fixloop's own placement never breaks them, however long the conversation
    server.enqueue([{"type": "text", "text": "ok"}])
    request = ModelRequest(system=LONG, messages=_conversation(30), cache_ttl="1h")
    assert model.complete(request).usage.cache_creation_input_tokens > 0
    with pytest.raises(ModelError):
        server.enqueue_error(400, "invalid_request_error", "no")
        model.complete(request)


def test_a_hit_is_found_within_20_blocks_before_a_breakpoint_only(
    server: MessagesServer, client: anthropic.Anthropic
) -> None:
    # Given a cached prompt of one long user block
    def send(extra: int) -> Any:
        server.enqueue([{"type": "text", "text": "ok"}])
        blocks: Any = [{"type": "text", "text": LONG}]
        blocks += [{"type": "text", "text": f"more {i}"} for i in range(extra)]
        blocks[-1]["cache_control"] = {"type": "ephemeral"}
        messages: Any = [{"role": "user", "content": blocks}]
        return client.messages.create(model=MODEL, max_tokens=10, messages=messages).usage

    first = send(0)
    # When the next request has its only breakpoint 20 blocks further, the entry is found
    assert send(20).cache_read_input_tokens == first.cache_creation_input_tokens
    # But 25 blocks further it is not (the lookback covers 20 blocks)
    server.cache.clear()
    send(0)
    assert send(25).cache_read_input_tokens == 0
