"""The one small protocol every model provider implements.

The loop hands a provider a :class:`ModelRequest` (Messages API shaped: system prompt,
messages, tool definitions) and gets back a :class:`ModelResponse` (content blocks, stop
reason, usage). Providers never see the event log; the caller rebuilds the prompt from it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, Field

ContentBlock = dict[str, Any]
"""A Messages API content block as JSON (``{"type": "text", "text": ...}`` etc.)."""


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


class Usage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0


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
