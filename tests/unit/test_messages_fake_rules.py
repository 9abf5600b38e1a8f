"""The local Messages API refuses what the API refuses, with the API's 400 and message: each
rule through the real SDK over HTTP, next to a request the rule lets through (so a test of a
refusal cannot pass on a server that refuses everything)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from fixloop.llm import ModelRequest, ToolDefinition, anthropic_model
from tests.fakes.messages import MessagesServer, count_prompt_tokens, sign_thinking
from tests.fakes.messages.rules import BINDING_BETA

MODEL = "claude-sonnet-5"
# Manual extended thinking is deprecated on the Claude 4.6 models (the SDK warns), not gone.
pytestmark = pytest.mark.filterwarnings("ignore:Using Claude with .* is deprecated:UserWarning")
JsonDict = dict[str, Any]


@pytest.fixture
def server() -> Iterator[MessagesServer]:
    with MessagesServer() as running:
        yield running


@pytest.fixture
def client(server: MessagesServer) -> Iterator[anthropic.Anthropic]:
    sdk = anthropic.Anthropic(api_key="k", base_url=server.base_url, max_retries=0)
    yield sdk
    sdk.close()


def refused(client: anthropic.Anthropic, **params: Any) -> str:
    """The API message of the 400 the request gets (its shape and request id checked)."""
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(**{"model": MODEL, "max_tokens": 100, "timeout": 30, **params})
    error = caught.value
    request_id = error.response.headers["request-id"]
    assert request_id.startswith("req_")
    assert isinstance(error.body, dict)
    message = error.body["error"]["message"]
    assert error.body == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": message},
        "request_id": request_id,
    }
    return str(message)


def create(client: anthropic.Anthropic, **params: Any) -> Any:
    return client.messages.create(**{"model": MODEL, "max_tokens": 100, "timeout": 30, **params})


def accepted(server: MessagesServer, client: anthropic.Anthropic, **params: Any) -> Any:
    server.enqueue([{"type": "text", "text": "ok"}])
    return create(client, **params)


def user(*blocks: JsonDict | str) -> JsonDict:
    return {"role": "user", "content": [_block(b) for b in blocks]}


def assistant(*blocks: JsonDict | str) -> JsonDict:
    return {"role": "assistant", "content": [_block(b) for b in blocks]}


def _block(block: JsonDict | str) -> JsonDict:
    return {"type": "text", "text": block} if isinstance(block, str) else block


def call(tool_id: str, name: str = "search_logs") -> JsonDict:
    return {"type": "tool_use", "id": tool_id, "name": name, "input": {}}


def result(tool_id: str) -> JsonDict:
    return {"type": "tool_result", "tool_use_id": tool_id, "content": "found"}


TOOL: JsonDict = {"name": "search_logs", "input_schema": {"type": "object"}}


# -- 1. tool_use / tool_result pairing ---------------------------------------------------


def test_every_tool_use_is_answered_in_the_very_next_message(
    server: MessagesServer, client: anthropic.Anthropic
) -> None:
    # Given a turn that called two tools
    asked = [user("Why 5xx?"), assistant("Looking.", call("toolu_a"), call("toolu_b"))]
    # When only one is answered, or the answer comes a message late, the API refuses it
    assert refused(client, tools=[TOOL], messages=[*asked, user(result("toolu_a"))]) == (
        "messages.1: `tool_use` ids were found without `tool_result` blocks immediately "
        "after: toolu_b. Each `tool_use` block must have a corresponding `tool_result` block "
        "in the next message."
    )
    late = [*asked, user("Hold on."), assistant("OK."), user(result("toolu_a"), result("toolu_b"))]
    assert refused(client, tools=[TOOL], messages=late).startswith(
        "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: "
        "toolu_a, toolu_b."
    )
    # And a conversation may not end on the calls either
    assert "immediately after: toolu_a, toolu_b" in refused(client, tools=[TOOL], messages=asked)
    # While both answered in the next message is accepted
    accepted(
        server, client, tools=[TOOL], messages=[*asked, user(result("toolu_a"), result("toolu_b"))]
    )


def test_each_tool_result_answers_one_call_of_the_message_just_before(
    server: MessagesServer, client: anthropic.Anthropic
) -> None:
    asked = [user("Why 5xx?"), assistant(call("toolu_a"))]
    # A result for a call that was not made (or made two turns ago) is refused
    assert refused(
        client, tools=[TOOL], messages=[*asked, user(result("toolu_a"), result("toolu_x"))]
    ) == (
        "messages.2.content.1: unexpected `tool_use_id` found in `tool_result` blocks: "
        "toolu_x. Each `tool_result` block must have a corresponding `tool_use` block in the "
        "previous message."
    )
    older = [*asked, user(result("toolu_a")), assistant("Done."), user(result("toolu_a"))]
    assert refused(client, tools=[TOOL], messages=older).startswith(
        "messages.4.content.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_a."
    )
    # And so is a second result for one call
    assert refused(
        client, tools=[TOOL], messages=[*asked, user(result("toolu_a"), result("toolu_a"))]
    ) == (
        "messages.2.content.1: each tool_use must have a single result. Found multiple "
        "`tool_result` blocks with id: toolu_a"
    )
    accepted(server, client, tools=[TOOL], messages=[*asked, user(result("toolu_a"))])


# -- 2. tool results first -------------------------------------------------------------------


def test_tool_results_come_first_in_their_message(
    server: MessagesServer, client: anthropic.Anthropic
) -> None:
    asked = [user("Why 5xx?"), assistant(call("toolu_a"))]
    # Text before the result is refused
    assert refused(
        client, tools=[TOOL], messages=[*asked, user("Here it is:", result("toolu_a"))]
    ) == (
        "messages.2: Did not find 1 tool_result block(s) at the beginning of this message. "
        "Messages following tool_use blocks must begin with a matching number of tool_result "
        "blocks."
    )
    # Text after it is fine
    accepted(server, client, tools=[TOOL], messages=[*asked, user(result("toolu_a"), "Also: ")])


# -- 3. message contents ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "messages: text content blocks must be non-empty"),
        (" \n", "messages: text content blocks must contain non-whitespace text"),
    ],
)
def test_text_blocks_hold_text(client: anthropic.Anthropic, text: str, message: str) -> None:
    assert refused(client, messages=[user("Why?"), assistant(text), user("Well?")]) == message
    assert refused(client, messages=[user("Why?", text)]) == message


def test_only_a_final_assistant_message_may_be_empty(client: anthropic.Anthropic) -> None:
    messages = [user("Why?"), {"role": "assistant", "content": []}, user("Well?")]
    assert refused(client, messages=messages) == (
        "messages.1: all messages must have non-empty content except for the optional final "
        "assistant message"
    )


def test_an_assistant_message_may_not_end_with_its_thinking(
    server: MessagesServer, client: anthropic.Anthropic
) -> None:
    thought = {"type": "thinking", "thinking": "Hm.", "signature": sign_thinking("Hm.")}
    ended = [user("Why?"), assistant(thought), user("Well?")]
    assert refused(client, messages=ended) == (
        "messages.1: The final block in an assistant message cannot be `thinking`."
    )
    accepted(
        server, client, messages=[user("Why?"), assistant(thought, "The deploy."), user("Well?")]
    )


def test_consecutive_messages_of_one_role_are_combined_not_refused(
    server: MessagesServer, client: anthropic.Anthropic
) -> None:
    # The reference: "Consecutive user or assistant turns in your request will be combined"
    accepted(server, client, messages=[user("Why?"), user("Still failing.")])
    split = [
        user("Why?"),
        assistant(call("toolu_a"), call("toolu_b")),
        user(result("toolu_a")),
        user(result("toolu_b"), "And a note."),
    ]
    accepted(server, client, tools=[TOOL], messages=split)


def test_a_prefill_is_refused_by_current_models_and_may_not_end_in_whitespace(
    server: MessagesServer, client: anthropic.Anthropic
) -> None:
    prefill = [user("Name the cause."), assistant("The cause is ")]
    # Claude 4.6 and later take no prefill
    assert refused(client, messages=prefill) == (
        "This model does not support assistant message prefill. The conversation must end "
        "with a user message."
    )
    # Older ones do, but not one ending in whitespace
    old = "claude-haiku-4-5-20251001"
    assert refused(client, model=old, messages=prefill) == (
        "messages: final assistant content cannot end with trailing whitespace"
    )
    accepted(server, client, model=old, messages=[user("Name the cause."), assistant("It is")])


# -- 4. cache breakpoints --------------------------------------------------------------------


def test_at_most_four_cache_control_blocks_across_tools_system_and_messages(
    server: MessagesServer, client: anthropic.Anthropic
) -> None:
    mark = {"type": "ephemeral"}
    tools = [{**TOOL, "cache_control": mark}]
    system: Any = [{"type": "text", "text": "You investigate.", "cache_control": mark}]
    marked = [{"type": "text", "text": f"part {i}", "cache_control": mark} for i in range(3)]
    assert refused(client, tools=tools, system=system, messages=[user(*marked)]) == (
        "A maximum of 4 blocks with cache_control may be provided. Found 5."
    )
    accepted(server, client, tools=tools, system=system, messages=[user(*marked[:2])])


# -- 5. tools and tool_use ids ---------------------------------------------------------------


def test_tool_names_are_unique_and_match_the_pattern(
    server: MessagesServer, client: anthropic.Anthropic
) -> None:
    hello = [user("Why?")]
    assert refused(client, tools=[TOOL, TOOL], messages=hello) == (
        "tools: Tool names must be unique."
    )
    for bad in ("search logs", "search.logs", "", "x" * 129):
        assert refused(client, tools=[TOOL, {**TOOL, "name": bad}], messages=hello) == (
            "tools.1.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'"
        )
    accepted(
        server, client, tools=[TOOL, {**TOOL, "name": "Get-signal_2" + "x" * 116}], messages=hello
    )


def test_tool_use_ids_are_unique_in_the_conversation(
    server: MessagesServer, client: anthropic.Anthropic
) -> None:
    first = [user("Why?"), assistant(call("toolu_a")), user(result("toolu_a"))]
    again = [*first, assistant(call("toolu_a")), user(result("toolu_a"))]
    assert refused(client, tools=[TOOL], messages=again) == (
        "messages.3.content.0: `tool_use` ids must be unique"
    )
    renamed = [*first, assistant(call("toolu_b")), user(result("toolu_b"))]
    accepted(server, client, tools=[TOOL], messages=renamed)


# -- 6. extended thinking --------------------------------------------------------------------

ADAPTIVE = {"type": "adaptive"}
ENABLED = {"type": "enabled", "budget_tokens": 1024}
DOCS = (
    " Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/"
    "extended-thinking#important-considerations-when-using-extended-thinking"
)


@pytest.mark.parametrize("thinking", [ADAPTIVE, ENABLED], ids=["adaptive", "enabled"])
def test_thinking_refuses_forced_tool_use_a_temperature_and_top_k(
    server: MessagesServer, client: anthropic.Anthropic, thinking: JsonDict
) -> None:
    model, hello = "claude-opus-4-6", [user("Why?")]
    base: dict[str, Any] = {"model": model, "max_tokens": 2048, "thinking": thinking}
    for choice in ({"type": "any"}, {"type": "tool", "name": "search_logs"}):
        assert refused(client, **base, tools=[TOOL], tool_choice=choice, messages=hello) == (
            "Thinking may not be enabled when tool_choice forces tool use."
        )
    # (the SDK no longer has these parameters; the API still reads them from the body)
    assert refused(client, **base, extra_body={"temperature": 0.2}, messages=hello) == (
        "`temperature` may only be set to 1 when thinking is enabled." + DOCS
    )
    assert refused(client, **base, extra_body={"top_k": 5}, messages=hello) == (
        "`top_k` must be unset when thinking is enabled." + DOCS
    )
    # While auto tool choice and a temperature of 1 are fine, and none of it without thinking
    accepted(server, client, **base, tools=[TOOL], tool_choice={"type": "auto"}, messages=hello)
    accepted(server, client, **base, extra_body={"temperature": 1}, messages=hello)
    accepted(
        server, client, model=model, extra_body={"temperature": 0.2, "top_k": 5}, messages=hello
    )


def _thought_and_call(
    server: MessagesServer, client: anthropic.Anthropic, thinking: JsonDict
) -> list[JsonDict]:
    """A turn in which the model thought, then called a tool: the content the API returned."""
    server.enqueue(
        [
            {"type": "thinking", "thinking": "The 5xx began with the deploy."},
            {"type": "tool_use", "id": "toolu_a", "name": "search_logs", "input": {}},
        ]
    )
    reply = create(
        client, model="claude-opus-4-6", max_tokens=2048, thinking=thinking, tools=[TOOL],
        messages=[user("Why 5xx?")],
    )  # fmt: skip
    return [block.model_dump(mode="json", exclude_none=True) for block in reply.content]


@pytest.mark.parametrize("thinking", [ADAPTIVE, ENABLED], ids=["adaptive", "enabled"])
def test_the_thinking_of_a_tool_use_loop_comes_back_signed_and_unchanged(
    server: MessagesServer, client: anthropic.Anthropic, thinking: JsonDict
) -> None:
    # Given a turn that thought and called a tool: its thinking block is signed
    content = _thought_and_call(server, client, thinking)
    assert content[0]["signature"] == sign_thinking("The 5xx began with the deploy.")

    def send(turn: list[JsonDict]) -> list[JsonDict]:
        return [user("Why 5xx?"), {"role": "assistant", "content": turn}, user(result("toolu_a"))]

    params: dict[str, Any] = {"model": "claude-opus-4-6", "max_tokens": 2048, "tools": [TOOL]}
    # When the loop goes on with the turn as it came, the API takes it
    accepted(server, client, **params, thinking=thinking, messages=send(content))
    # But a forged signature, a missing one or an edited thought is refused
    forged = [{**content[0], "signature": "forged"}, content[1]]
    assert refused(client, **params, thinking=thinking, messages=send(forged)) == (
        "messages.1.content.0: Invalid `signature` in `thinking` block"
    )
    edited = [{**content[0], "thinking": "It was the database."}, content[1]]
    assert refused(client, **params, thinking=thinking, messages=send(edited)) == (
        "messages.1.content.0: Invalid `signature` in `thinking` block"
    )
    unsigned = [{"type": "thinking", "thinking": content[0]["thinking"]}, content[1]]
    assert refused(client, **params, thinking=thinking, messages=send(unsigned)) == (
        "messages.1.content.0.thinking.signature: Field required"
    )
    # And so is the turn without its thinking block
    dropped = refused(client, **params, thinking=thinking, messages=send(content[1:]))
    if thinking == ENABLED:
        assert dropped.startswith(
            "messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found "
            "`tool_use`. When `thinking` is enabled, a final `assistant` message must start "
            "with a thinking block (preceeding the lastmost set of `tool_use` and `tool_result` "
            "blocks)."
        )
    else:
        assert dropped == (
            "messages.1.content.0: `thinking` or `redacted_thinking` blocks in the latest "
            "assistant message cannot be modified. These blocks must remain as they were in "
            "the original response."
        )
    # While with thinking off the API ignores what is there
    accepted(server, client, **params, messages=send(content[1:]))


def test_fixloop_sends_the_thinking_of_its_tool_use_loop_back_as_it_came(
    server: MessagesServer,
) -> None:
    # Given fixloop's model on the local API, with adaptive thinking (its default)
    model = anthropic_model("claude-sonnet-5", api_key="k", base_url=server.base_url, max_retries=0)
    tool = ToolDefinition(
        name="search_logs", description="Search.", input_schema={"type": "object"}
    )
    server.enqueue(
        [
            {"type": "thinking", "thinking": "Look at the deploy first."},
            {"type": "text", "text": "Searching."},
            {"type": "tool_use", "id": "toolu_a", "name": "search_logs", "input": {"q": "5xx"}},
        ]
    )
    server.enqueue([{"type": "text", "text": "The deploy broke it."}])
    ask = [user("Why 5xx?")]
    first = model.complete(
        ModelRequest(system="Investigate.", messages=ask, tools=[tool], adaptive_thinking=True)
    )
    # When the next turn carries the streamed turn back with the tool's result
    after = [*ask, {"role": "assistant", "content": first.content}, user(result("toolu_a"))]
    second = model.complete(
        ModelRequest(system="Investigate.", messages=after, tools=[tool], adaptive_thinking=True)
    )
    model.close()
    # Then the API took it: the signature came through the stream intact
    assert second.content == [{"type": "text", "text": "The deploy broke it."}]
    assert first.content[0]["signature"] == sign_thinking("Look at the deploy first.")


def test_preserved_thinking_refuses_a_block_whose_prefix_changed(
    server: MessagesServer, client: anthropic.Anthropic
) -> None:
    # Given a thought produced after a system prompt and a first message, on a model that
    # runs the prefix check (Claude Fable 5.2: a failed check is a 400 for every account)
    model = "claude-fable-5-2"
    server.enqueue([{"type": "thinking", "thinking": "Check the deploy."}, call("toolu_a")])
    system: Any = [{"type": "text", "text": "Investigate."}]
    opening = [user("Why 5xx? The logs are long: " + "x" * 50)]
    reply = create(
        client, model=model, max_tokens=2048, system=system, tools=[TOOL], messages=opening,
        thinking=ADAPTIVE,
    )  # fmt: skip
    turn = {
        "role": "assistant",
        "content": [b.model_dump(exclude_none=True) for b in reply.content],
    }
    params: dict[str, Any] = {
        "model": model,
        "max_tokens": 2048,
        "tools": [TOOL],
        "thinking": ADAPTIVE,
    }
    # When the history before it is sent unchanged (a moved cache breakpoint is no change)
    cached = [{**system[0], "cache_control": {"type": "ephemeral"}}]
    accepted(
        server, client, **params, system=cached, messages=[*opening, turn, user(result("toolu_a"))]
    )
    # But an earlier message rewritten (as a compaction does) invalidates the block
    shortened = [user("Why 5xx? [logs cleared]"), turn, user(result("toolu_a"))]
    assert refused(client, **params, system=system, messages=shortened) == (
        "messages.1.content.0: Invalid `signature` in `thinking` block. The block is bound to a "
        "different conversation. Remove the block, or set `thinking.block_binding.prefix_"
        'mismatch_behavior` to "drop_block".'
    )
    # Unless the request asks for such blocks to be dropped (a beta control, so only with its
    # header), as Claude Sonnet 5.5 does unasked; models without preserved thinking do not check
    dropping = {**ADAPTIVE, "block_binding": {"prefix_mismatch_behavior": "drop_block"}}
    assert "requires the anthropic-beta header" in refused(
        client, **{**params, "thinking": dropping}, system=system, messages=shortened
    )
    accepted(
        server, client, **{**params, "thinking": dropping}, system=system, messages=shortened,
        extra_headers={"anthropic-beta": BINDING_BETA},
    )  # fmt: skip
    for other in ("claude-sonnet-5-5", "claude-sonnet-5"):
        accepted(server, client, **{**params, "model": other}, system=system, messages=shortened)


# -- 7, 8. context window and output limit ---------------------------------------------------


def test_the_prompt_fits_the_models_context_window(
    server: MessagesServer, client: anthropic.Anthropic
) -> None:
    # Given a prompt of about 250,000 tokens by the server's count
    big: Any = [user("x" * 1_000_000)]
    tokens = client.messages.count_tokens(
        model=MODEL, messages=big
    ).input_tokens  # counting is fine
    assert tokens == count_prompt_tokens({"messages": big}) > 200_000
    # Then a 200K model refuses it, a 1M one takes it
    old = "claude-haiku-4-5-20251001"
    assert refused(client, model=old, messages=big) == (
        f"prompt is too long: {tokens} tokens > 200000 maximum"
    )
    accepted(server, client, model=MODEL, messages=big)


def test_max_tokens_is_within_the_models_output_limit(
    server: MessagesServer, client: anthropic.Anthropic
) -> None:
    hello = [user("Why?")]
    assert refused(client, model="claude-opus-4-1-20250805", max_tokens=32_001, messages=hello) == (
        "max_tokens: 32001 > 32000, which is the maximum allowed number of output tokens for "
        "claude-opus-4-1-20250805"
    )
    assert refused(client, max_tokens=128_001, messages=hello).startswith(
        "max_tokens: 128001 > 128000,"
    )
    accepted(server, client, max_tokens=128_000, messages=hello)
    # A model the server does not know gets the tightest current limits
    assert refused(client, model="claude-test", max_tokens=64_001, messages=hello).startswith(
        "max_tokens: 64001 > 64000,"
    )
