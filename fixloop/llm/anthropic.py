"""The Anthropic Messages API as a :class:`~fixloop.llm.protocol.Model`.

One class serves both the Anthropic API (``anthropic.Anthropic``, API key) and Amazon Bedrock
(``anthropic.AnthropicBedrock``, IAM credentials from the default chain): they share the
Messages API and the SDK's streaming helper. Every turn is streamed; text, thinking and tool
input fragments go to ``on_delta`` as they arrive, and the final message comes back as plain
JSON content blocks, exactly as the API returned them (thinking blocks keep their signature,
so they can be sent back on the next turn).

The SDK retries rate limits, overloads, 5xx and connection errors itself (honouring
``retry-after``). What is still failing after that is raised as a fixloop error:
:class:`~fixloop.errors.ModelThrottled` (429, 529), :class:`~fixloop.errors.ModelUnavailable`
(other 5xx, connection errors, timeouts) or :class:`~fixloop.errors.ModelError` (the request
itself was refused: 400, 401, 403, 404, ...). The first two are transient and retried by the
state machine; the last is not.
"""

from __future__ import annotations

from typing import Any

import anthropic
import httpx2
from anthropic.types import InputJSONDelta, RawContentBlockDeltaEvent, TextDelta, ThinkingDelta

from fixloop.errors import ConfigError, FixloopError, ModelError, ModelThrottled, ModelUnavailable
from fixloop.llm.bedrock import DEFAULT_BEDROCK_MODEL, default_bedrock_model
from fixloop.llm.caching import estimate_tokens, place_breakpoints
from fixloop.llm.protocol import DeltaSink, ModelRequest, ModelResponse, StreamDelta, Usage

__all__ = [
    "DEFAULT_ANTHROPIC_MODEL",
    "DEFAULT_BEDROCK_MODEL",
    "DEFAULT_MAX_RETRIES",
    "AnthropicModel",
    "anthropic_model",
    "bedrock_model",
]

DEFAULT_ANTHROPIC_MODEL = "claude-sonnet-5"
"""Default model on the Anthropic API. The Claude 5 family takes adaptive thinking only."""


DEFAULT_MAX_RETRIES = 4
"""Retries the SDK makes on its own (429, 529, 5xx, connection errors) before we give up."""

THINKING_BINDING_BETA = "thinking-binding-controls-2026-08-01"
"""The beta that lets a request set ``thinking.block_binding`` (the preserved-thinking docs:
"Fix a thinking block bound to a different conversation")."""
_THROTTLED_TYPES = frozenset({"rate_limit_error", "overloaded_error"})
_UNAVAILABLE_TYPES = frozenset({"api_error", "timeout_error"})

AnthropicClient = anthropic.Anthropic | anthropic.AnthropicBedrock


class AnthropicModel:
    """A :class:`~fixloop.llm.protocol.Model` backed by the official ``anthropic`` SDK."""

    def __init__(self, client: AnthropicClient, model: str, name: str) -> None:
        self.client = client
        self.model = model
        self.name = name

    def __repr__(self) -> str:
        return f"AnthropicModel(name={self.name!r})"

    def close(self) -> None:
        """Close the client's connection pool; the model cannot be used afterwards."""
        self.client.close()

    def complete(self, request: ModelRequest, on_delta: DeltaSink | None = None) -> ModelResponse:
        """Stream one assistant turn; raise a fixloop error if the provider fails."""
        params = self._params(request)
        try:
            with self.client.messages.stream(**params) as stream:
                for event in stream:
                    if on_delta is not None and isinstance(event, RawContentBlockDeltaEvent):
                        delta = _delta(event)
                        if delta is not None:
                            on_delta(delta)
                message = stream.get_final_message()
        except anthropic.APIError as exc:
            raise self._translate(exc) from exc
        except httpx2.TransportError as exc:
            # A connection dropped while the body was streaming: the SDK's retries only cover
            # getting the response headers, so the rest of the stream surfaces raw.
            raise ModelUnavailable(
                f"{self.name}: the connection failed while streaming the response: {exc!r}"
            ) from exc

        usage = message.usage
        split = usage.cache_creation
        return ModelResponse(
            content=[block.model_dump(mode="json", exclude_none=True) for block in message.content],
            stop_reason=message.stop_reason or "end_turn",
            model=message.model,
            usage=Usage(
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cache_creation_input_tokens=usage.cache_creation_input_tokens or 0,
                cache_read_input_tokens=usage.cache_read_input_tokens or 0,
                cache_creation_1h_input_tokens=(split.ephemeral_1h_input_tokens or 0)
                if split is not None
                else 0,
            ),
        )

    def count_tokens(self, request: ModelRequest) -> int:
        """The API's count of the prompt (free, rate limited on its own); Bedrock has no
        counting endpoint in the SDK, so there the local estimate stands in."""
        params = self._params(request, cached=False)
        params.pop("max_tokens", None)
        if isinstance(self.client, anthropic.AnthropicBedrock):
            return estimate_tokens(
                {k: params.get(k) for k in ("system", "tools", "messages") if k in params}
            )
        try:
            return self.client.messages.count_tokens(**params).input_tokens
        except anthropic.APIError as exc:
            raise self._translate(exc) from exc
        except httpx2.TransportError as exc:
            raise ModelUnavailable(f"{self.name}: token counting failed: {exc!r}") from exc

    def _params(self, request: ModelRequest, *, cached: bool = True) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": self.model,
            "max_tokens": request.max_tokens,
            "messages": request.messages,
        }
        if request.system:
            params["system"] = request.system
        if request.tools:
            params["tools"] = [tool.model_dump(mode="json") for tool in request.tools]
        if request.adaptive_thinking:
            params["thinking"] = {"type": "adaptive"}
        elif request.thinking_budget is not None:
            if request.max_tokens <= request.thinking_budget:
                # max_tokens counts thinking too; the API would refuse this with a 400.
                raise ModelError(
                    f"{self.name}: max_tokens ({request.max_tokens}) must exceed the thinking "
                    f"budget ({request.thinking_budget})"
                )
            params["thinking"] = {"type": "enabled", "budget_tokens": request.thinking_budget}
        if request.drop_invalid_thinking and "thinking" in params:
            params["thinking"]["block_binding"] = {"prefix_mismatch_behavior": "drop_block"}
            params["extra_headers"] = {"anthropic-beta": THINKING_BINDING_BETA}
        if cached and request.cache:
            # Bedrock's InvokeModel takes the same cache_control markers for the models that
            # support caching, so both providers share this one code path.
            params = place_breakpoints(params, model=self.model, ttl=request.cache_ttl)
        return params

    def _translate(self, exc: anthropic.APIError) -> FixloopError:
        """Map an SDK error that survived the SDK's own retries to a fixloop error."""
        if isinstance(exc, anthropic.APITimeoutError):
            return ModelUnavailable(f"{self.name}: the request timed out")
        if isinstance(exc, anthropic.APIConnectionError):
            return ModelUnavailable(f"{self.name}: cannot reach the API: {exc.message}")
        if not isinstance(exc, anthropic.APIStatusError):
            return ModelError(f"{self.name}: unexpected response from the API: {exc.message}")

        status = exc.status_code
        # An error event inside a stream arrives on a 200 response; its error type says what
        # it is (overloaded_error there is what a 529 is outside a stream).
        error_type = exc.type or ""
        detail = _detail(exc)
        if status in (429, 529) or error_type in _THROTTLED_TYPES:
            return ModelThrottled(f"{self.name}: throttled by the API ({detail})")
        if status >= 500 or status == 408 or error_type in _UNAVAILABLE_TYPES:
            return ModelUnavailable(f"{self.name}: the API is unavailable ({detail})")
        return ModelError(f"{self.name}: the API refused the request ({detail})")


def _delta(event: RawContentBlockDeltaEvent) -> StreamDelta | None:
    delta = event.delta
    if isinstance(delta, TextDelta):
        return StreamDelta(index=event.index, kind="text", text=delta.text)
    if isinstance(delta, ThinkingDelta):
        return StreamDelta(index=event.index, kind="thinking", text=delta.thinking)
    if isinstance(delta, InputJSONDelta):
        return StreamDelta(index=event.index, kind="tool_input", text=delta.partial_json)
    return None  # signature and citation deltas only matter in the final message


def _detail(exc: anthropic.APIStatusError) -> str:
    """``HTTP 400 invalid_request_error: <message>, request req_...`` on one line."""
    parts = [f"HTTP {exc.status_code}"]
    if exc.type:
        parts.append(f" {exc.type}")
    message = exc.api_message or exc.message
    parts.append(f": {' '.join(str(message).split())}")
    if exc.request_id:
        parts.append(f", request {exc.request_id}")
    return "".join(parts)


def anthropic_model(
    model: str = DEFAULT_ANTHROPIC_MODEL,
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    max_retries: int = DEFAULT_MAX_RETRIES,
    timeout: float = 600,
    http_client: httpx2.Client | None = None,
) -> AnthropicModel:
    """A model on the Anthropic API.

    ``api_key`` and ``base_url`` default to what the SDK finds itself (``ANTHROPIC_API_KEY``,
    ``ANTHROPIC_BASE_URL``); ``http_client`` is the SDK's transport seam for tests.
    """
    client = anthropic.Anthropic(
        api_key=api_key,
        base_url=base_url,
        max_retries=max_retries,
        timeout=timeout,
        http_client=http_client,
    )
    return AnthropicModel(client, model, name=f"anthropic:{model}")


def bedrock_model(
    model: str | None = None,
    *,
    aws_region: str | None = None,
    max_retries: int = DEFAULT_MAX_RETRIES,
    timeout: float = 600,
    base_url: str | None = None,
    http_client: httpx2.Client | None = None,
) -> AnthropicModel:
    """A model on Amazon Bedrock, signed with IAM credentials from the default chain.

    The region comes from ``aws_region``, else ``AWS_REGION`` / ``AWS_DEFAULT_REGION`` or the
    boto3 profile; :class:`~fixloop.errors.ConfigError` if none is set. ``model`` defaults to
    the inference profile of that region (:func:`~fixloop.llm.bedrock.default_bedrock_model`).
    """
    try:
        client = anthropic.AnthropicBedrock(
            aws_region=aws_region,
            base_url=base_url,
            max_retries=max_retries,
            timeout=timeout,
            http_client=http_client,
        )
    except ValueError as exc:  # the SDK's "No AWS region was provided"
        raise ConfigError(f"cannot build the Bedrock client: {exc}") from exc
    model = model or default_bedrock_model(client.aws_region)
    return AnthropicModel(client, model, name=f"bedrock:{model}")
