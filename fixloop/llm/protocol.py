"""The one small protocol every model provider implements.

The loop hands a provider a :class:`ModelRequest` (Messages API shaped: system prompt,
messages, tool definitions) and gets back a :class:`ModelResponse` (content blocks, stop
reason, usage). Providers never see the event log; the caller rebuilds the prompt from it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field

ContentBlock = dict[str, Any]
"""A Messages API content block as JSON (``{"type": "text", "text": ...}`` etc.)."""


def message_texts(message: dict[str, Any]) -> list[str]:
    """The text of a Messages API message: its string content, or its text blocks' texts."""
    content = message.get("content")
    if isinstance(content, str):
        return [content]
    return [str(b.get("text", "")) for b in content or [] if b.get("type") == "text"]


class ToolDefinition(BaseModel):
    name: str
    description: str
    input_schema: dict[str, Any]


class ModelRequest(BaseModel):
    system: str
    messages: list[dict[str, Any]]
    tools: list[ToolDefinition] = Field(default_factory=list)
    max_tokens: int = 8192
    adaptive_thinking: bool = False
    """Let the model decide how much to think (``thinking: {"type": "adaptive"}``): the
    form current models take, and the only one the Claude 5 family accepts."""
    thinking_budget: int | None = None
    """A fixed extended-thinking budget in tokens, for models before adaptive thinking
    (Claude 4.5 and older). Ignored when ``adaptive_thinking`` is set; None with adaptive
    off turns thinking off."""
    turn: int = 0
    """Which turn of the investigation this is (1-based). Scripted models replay by it."""
    investigation_id: str = ""
    purpose: Literal["turn", "compaction"] = "turn"
    """A turn of the investigation, or a compaction: a one-off request, without tools, for
    a summary of older turns (a scripted model answers it with an extract)."""
    drop_invalid_thinking: bool = False
    """Ask the API to drop, not refuse, thinking blocks whose prefix changed since they were
    produced (a compaction rewrote what came before them): models with preserved thinking
    check it (``thinking.block_binding.prefix_mismatch_behavior: "drop_block"``)."""
    cache: bool = True
    """Place prompt cache breakpoints (see fixloop.llm.caching); off for one-off requests."""
    cache_ttl: Literal["5m", "1h"] = "5m"
    """How long cache entries written by this request live: "1h" when the investigation may
    wait on a human for longer than five minutes."""


class Usage(BaseModel):
    """Token counts as the API reports them: ``input_tokens`` are the prompt tokens after
    the last cache breakpoint, so the whole prompt is input + cache creation + cache read."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_1h_input_tokens: int = 0
    """The part of ``cache_creation_input_tokens`` written with the 1-hour TTL (priced
    higher than 5-minute writes)."""

    @property
    def prompt_tokens(self) -> int:
        return self.input_tokens + self.cache_creation_input_tokens + self.cache_read_input_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(**{k: getattr(self, k) + getattr(other, k) for k in Usage.model_fields})


class ModelResponse(BaseModel):
    content: list[ContentBlock]
    stop_reason: str
    model: str
    usage: Usage = Field(default_factory=Usage)


class StreamDelta(BaseModel):
    """One streamed fragment: kind is "text", "thinking" or "tool_input"."""

    index: int
    kind: str
    text: str


DeltaSink = Callable[[StreamDelta], None]


@runtime_checkable
class Model(Protocol):
    """A provider of assistant turns."""

    name: str

    def complete(self, request: ModelRequest, on_delta: DeltaSink | None = None) -> ModelResponse:
        """Run one assistant turn, streaming fragments to ``on_delta`` as they arrive."""
        ...

    def count_tokens(self, request: ModelRequest) -> int:
        """The prompt's size in tokens: the provider's count where it has one (the Messages
        API's token counting endpoint), else a local estimate."""
        ...
