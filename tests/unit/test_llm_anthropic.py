"""AnthropicModel and the model factory: the real SDK against a local Messages API server."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest

from fixloop.errors import (
    BadInputError,
    ConfigError,
    ModelError,
    ModelThrottled,
    ModelUnavailable,
)
from fixloop.llm import (
    AnthropicModel,
    Model,
    ModelRequest,
    ScriptedModel,
    StreamDelta,
    ToolDefinition,
    anthropic_model,
    clear_model_cache,
    model_from_spec,
)
from tests.conftest import TEST_SECRET_PREFIX
from tests.fakes.messages import MessagesServer

SEARCH_LOGS = ToolDefinition(
    name="search_logs",
    description="Search the service's logs.",
    input_schema={"type": "object", "properties": {"query": {"type": "string"}}},
)
TOOL_CALL = {"type": "tool_use", "id": "toolu_01", "name": "search_logs", "input": {"query": "5xx"}}


@pytest.fixture
def server() -> Iterator[MessagesServer]:
    with MessagesServer() as running:
        yield running


ModelFactory = Callable[..., AnthropicModel]


@pytest.fixture
def model_for(server: MessagesServer) -> Iterator[ModelFactory]:
    """Builds models on the local server and closes their clients after the test."""
    opened: list[AnthropicModel] = []

    def build(max_retries: int = 2) -> AnthropicModel:
        model = anthropic_model(
            "claude-test", api_key="test-key", base_url=server.base_url, max_retries=max_retries
        )
        opened.append(model)
        return model

    yield build
    for model in opened:
        model.close()


def _request(**changes: object) -> ModelRequest:
    fields: dict[str, object] = {
        "system": "You investigate production incidents.",
        "messages": [{"role": "user", "content": "Errors spiked in checkout."}],
        "tools": [SEARCH_LOGS],
        "max_tokens": 4096,
        "turn": 1,
        "investigation_id": "inv-1",
    }
    fields.update(changes)
    return ModelRequest.model_validate(fields)


def test_streams_thinking_text_and_tool_use_and_returns_the_final_blocks(
    server: MessagesServer,
    model_for: ModelFactory,
) -> None:
    # Given a server that answers with thinking, text and a tool call
    server.enqueue(
        [
            {"type": "thinking", "thinking": "The spike began at 10:02.", "signature": "sig-1"},
            {"type": "text", "text": "Let me search the logs."},
            TOOL_CALL,
        ],
        usage={
            "input_tokens": 120,
            "output_tokens": 42,
            "cache_creation_input_tokens": 30,
            "cache_read_input_tokens": 70,
        },
    )
    deltas: list[StreamDelta] = []

    # When the model completes a turn
    response = model_for().complete(_request(thinking_budget=2048), deltas.append)

    # Then every fragment reached on_delta, in order, with its block index and kind
    assert {(d.index, d.kind) for d in deltas} == {(0, "thinking"), (1, "text"), (2, "tool_input")}
    assert "".join(d.text for d in deltas if d.index == 0) == "The spike began at 10:02."
    assert "".join(d.text for d in deltas if d.index == 1) == "Let me search the logs."
    assert json.loads("".join(d.text for d in deltas if d.index == 2)) == {"query": "5xx"}
    assert sum(d.kind == "tool_input" for d in deltas) > 2  # the JSON came in pieces
    # And the final blocks are the API's JSON, signature and tool id included
    assert response.content == [
        {"type": "thinking", "thinking": "The spike began at 10:02.", "signature": "sig-1"},
        {"type": "text", "text": "Let me search the logs."},
        TOOL_CALL,
    ]
    assert response.stop_reason == "tool_use"
    assert response.model == "claude-test"
    assert response.usage.model_dump() == {
        "input_tokens": 120,
        "output_tokens": 42,
        "cache_creation_input_tokens": 30,
        "cache_read_input_tokens": 70,
        "cache_creation_1h_input_tokens": 0,
    }


def test_sends_system_tools_and_thinking_in_a_streaming_request(
    server: MessagesServer, model_for: ModelFactory
) -> None:
    # Given a queued reply
    server.enqueue([{"type": "text", "text": "ok"}])

    # When a turn with a thinking budget is completed
    model_for().complete(_request(thinking_budget=2048))

    # Then the request body carries the model, system, messages, tools and thinking config
    (sent,) = server.requests
    assert sent.path == "/v1/messages"
    assert sent.body["stream"] is True
    assert sent.body["model"] == "claude-test"
    assert sent.body["max_tokens"] == 4096
    assert sent.body["system"] == "You investigate production incidents."
    assert sent.body["messages"] == [{"role": "user", "content": "Errors spiked in checkout."}]
    assert sent.body["tools"] == [SEARCH_LOGS.model_dump()]
    assert sent.body["thinking"] == {"type": "enabled", "budget_tokens": 2048}


def test_adaptive_thinking_is_sent_in_the_form_current_models_take(
    server: MessagesServer, model_for: ModelFactory
) -> None:
    server.enqueue([{"type": "text", "text": "ok"}])
    model_for().complete(_request(adaptive_thinking=True, thinking_budget=2048))
    assert server.requests[0].body["thinking"] == {"type": "adaptive"}


def test_leaves_thinking_off_without_a_budget_and_usage_without_cache_counts_is_zero(
    server: MessagesServer,
    model_for: ModelFactory,
) -> None:
    # Given a reply whose usage has no cache counts at all
    server.enqueue([{"type": "text", "text": "ok"}], usage={"input_tokens": 3, "output_tokens": 1})
    server.enqueue([{"type": "text", "text": "ok"}])
    model = model_for()

    # When a turn without a thinking budget is completed
    response = model.complete(_request(tools=[]))

    # Then no thinking or tools are sent, and missing cache counts read as 0
    assert "thinking" not in server.requests[0].body
    assert "tools" not in server.requests[0].body
    assert response.stop_reason == "end_turn"
    assert response.usage.cache_read_input_tokens == 0
    assert response.usage.cache_creation_input_tokens == 0


def test_refuses_a_thinking_budget_not_below_max_tokens_before_calling(
    server: MessagesServer,
    model_for: ModelFactory,
) -> None:
    # Given a request whose max_tokens leaves no room beyond the thinking budget
    request = _request(max_tokens=2048, thinking_budget=2048)

    # When it is completed, then it fails before any request is sent
    with pytest.raises(ModelError, match="must exceed the thinking budget"):
        model_for().complete(request)
    assert server.requests == []


def test_a_rate_limit_with_retry_after_is_retried_by_the_sdk(
    server: MessagesServer, model_for: ModelFactory
) -> None:
    # Given a 429 with retry-after, then a normal reply
    server.enqueue_error(429, "rate_limit_error", "Number of requests exceeded", retry_after="0.01")
    server.enqueue([{"type": "text", "text": "after the wait"}])

    # When the model completes a turn
    response = model_for().complete(_request())

    # Then the SDK retried on its own and the turn succeeded
    assert response.content == [{"type": "text", "text": "after the wait"}]
    assert len(server.requests) == 2
    assert server.requests[1].headers["x-stainless-retry-count"] == "1"


def test_a_persistent_overload_raises_model_throttled(
    server: MessagesServer, model_for: ModelFactory
) -> None:
    # Given a server overloaded for every attempt the SDK makes (1 + 2 retries)
    for _ in range(3):
        server.enqueue_error(529, "overloaded_error", "Overloaded", retry_after="0.01")

    # When the model completes a turn
    with pytest.raises(ModelThrottled, match="overloaded_error") as caught:
        model_for(max_retries=2).complete(_request())

    # Then the SDK tried three times and the SDK error is chained
    assert len(server.requests) == 3
    assert isinstance(caught.value.__cause__, anthropic.APIStatusError)
    assert caught.value.__cause__.status_code == 529


def test_an_overload_in_the_middle_of_a_stream_raises_model_throttled(
    server: MessagesServer,
    model_for: ModelFactory,
) -> None:
    # Given a stream that starts and then reports overloaded_error (on a 200 response)
    server.enqueue_stream_error("overloaded_error", "Overloaded")

    # When the model completes a turn, then it is throttled, not refused
    with pytest.raises(ModelThrottled):
        model_for().complete(_request())


def test_persistent_server_errors_raise_model_unavailable(
    server: MessagesServer, model_for: ModelFactory
) -> None:
    # Given a server failing with 500 for every attempt
    for _ in range(2):
        server.enqueue_error(500, "api_error", "Internal server error", retry_after="0.01")

    # When the model completes a turn, then the API is reported unavailable
    with pytest.raises(ModelUnavailable, match="HTTP 500"):
        model_for(max_retries=1).complete(_request())
    assert len(server.requests) == 2


def test_an_unreachable_api_raises_model_unavailable() -> None:
    # Given a port nothing listens on
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    model = anthropic_model(
        "claude-test", api_key="k", base_url=f"http://127.0.0.1:{port}", max_retries=0
    )

    # When the model completes a turn, then it is unavailable, chained to the SDK error
    with pytest.raises(ModelUnavailable, match="cannot reach the API") as caught:
        model.complete(_request())
    model.close()
    assert isinstance(caught.value.__cause__, anthropic.APIConnectionError)


def test_a_bad_request_raises_model_error_without_retrying(
    server: MessagesServer, model_for: ModelFactory
) -> None:
    # Given a server refusing the request
    server.enqueue_error(400, "invalid_request_error", "messages: roles must alternate")

    # When the model completes a turn
    with pytest.raises(ModelError) as caught:
        model_for().complete(_request())

    # Then the error names the status, type and API message, and was not retried
    message = str(caught.value)
    assert "HTTP 400 invalid_request_error: messages: roles must alternate" in message
    assert "request req_" in message
    assert not isinstance(caught.value, ModelThrottled | ModelUnavailable)
    assert isinstance(caught.value.__cause__, anthropic.BadRequestError)
    assert len(server.requests) == 1


def test_the_server_answers_count_tokens_and_non_streaming_calls(server: MessagesServer) -> None:
    # Given an SDK client on the local server
    server.enqueue([{"type": "tool_use", "name": "search_logs", "input": {"query": "x"}}])
    messages: list[anthropic.types.MessageParam] = [{"role": "user", "content": "hi"}]

    # When it counts tokens and creates a message without streaming
    with anthropic.Anthropic(api_key="k", base_url=server.base_url, max_retries=0) as client:
        counted = client.messages.count_tokens(model="claude-test", messages=messages)
        message = client.messages.create(model="claude-test", max_tokens=100, messages=messages)

    # Then both parse, and the tool call got an id and the tool_use stop reason
    assert counted.input_tokens > 0
    assert message.stop_reason == "tool_use"
    assert message.content[0].type == "tool_use"
    assert message.content[0].id.startswith("toolu_")
    assert [r.path for r in server.requests] == ["/v1/messages/count_tokens", "/v1/messages"]


# -- the factory -------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name in ("ANTHROPIC_API_KEY", "FIXLOOP_ANTHROPIC_SECRET_ARN", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    clear_model_cache()
    yield monkeypatch
    clear_model_cache()


@pytest.mark.parametrize(
    "spec", ["", "openai", "anthropic:", "bedrock:", "scripted:", "scripted", "claude-sonnet-4-5"]
)
def test_factory_refuses_unknown_specs(spec: str) -> None:
    # Given a spec that is none of the valid forms, when it is built, then the error lists them
    with pytest.raises(BadInputError, match="expected scripted:PATH, anthropic") as caught:
        model_from_spec(spec)
    assert "\n" not in str(caught.value)


def test_factory_needs_an_api_key(clean_env: pytest.MonkeyPatch) -> None:
    # Given neither ANTHROPIC_API_KEY nor a secret ARN, when an anthropic model is built
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY") as caught:
        model_from_spec("anthropic")

    # Then the message says how to provide one
    assert "FIXLOOP_ANTHROPIC_SECRET_ARN" in str(caught.value)


def test_factory_builds_and_caches_an_anthropic_model(
    clean_env: pytest.MonkeyPatch, server: MessagesServer
) -> None:
    # Given a key and a base URL in the environment
    clean_env.setenv("ANTHROPIC_API_KEY", "env-key")
    clean_env.setenv("ANTHROPIC_BASE_URL", server.base_url)
    server.enqueue([{"type": "text", "text": "hello"}])

    # When the same spec is built twice and used
    model = model_from_spec("anthropic:claude-test")
    again = model_from_spec("anthropic:claude-test")
    response = model.complete(_request())

    # Then it is one cached model that talks to the configured URL with the key
    assert model is again
    assert isinstance(model, Model)
    assert model.name == "anthropic:claude-test"
    assert response.content == [{"type": "text", "text": "hello"}]
    headers = server.requests[0].headers
    assert "env-key" in (headers.get("x-api-key", "") + headers.get("authorization", ""))
    assert model_from_spec("anthropic").name == "anthropic:claude-sonnet-5"


def test_factory_reads_the_key_from_secrets_manager(
    clean_env: pytest.MonkeyPatch, secretsmanager: Any
) -> None:
    # Given a secret holding {"api_key": ...} and its ARN in the environment
    arn = secretsmanager.create_secret(
        Name=f"{TEST_SECRET_PREFIX}anthropic", SecretString=json.dumps({"api_key": "secret-key"})
    )["ARN"]
    clean_env.setenv("FIXLOOP_ANTHROPIC_SECRET_ARN", arn)

    # When an anthropic model is built
    model = model_from_spec("anthropic")

    # Then its client holds the key from the secret
    assert isinstance(model, AnthropicModel)
    assert model.client.api_key == "secret-key"


def test_factory_builds_bedrock_models_and_needs_a_region(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given no AWS region anywhere (no env, no config file)
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        clean_env.delenv(name, raising=False)
    clean_env.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))

    # When a bedrock model is built, then the missing region is a configuration error
    with pytest.raises(ConfigError, match="region"):
        model_from_spec("bedrock")

    # And given a region, the default model is the global inference profile of Sonnet 5,
    # which that region may call (a us. profile could be called from US regions only)
    clean_env.setenv("AWS_REGION", "us-west-2")
    model = model_from_spec("bedrock")
    assert model.name == "bedrock:global.anthropic.claude-sonnet-5"
    assert model_from_spec("bedrock:anthropic.claude-haiku-4-5-20251001-v1:0").name == (
        "bedrock:anthropic.claude-haiku-4-5-20251001-v1:0"
    )


def test_factory_builds_scripted_models_with_known_tools(tmp_path: Path) -> None:
    # Given a script calling a tool
    script = tmp_path / "turns.jsonl"
    script.write_text(json.dumps({"content": [{"type": "tool_use", "name": "search_logs"}]}))

    # When it is built with and without that tool known
    model = model_from_spec(f"scripted:{script}", known_tools={"search_logs"})

    # Then it replays, and an unknown tool is refused up front
    assert isinstance(model, ScriptedModel)
    assert model.name == f"scripted:{script}"
    with pytest.raises(BadInputError, match="unknown tool 'search_logs'"):
        model_from_spec(f"scripted:{script}", known_tools={"read_file"})
