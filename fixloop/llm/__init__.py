"""Model providers behind one small protocol: the Anthropic API, Bedrock, and a scripted replay.

Build one with :func:`model_from_spec` (``scripted:PATH``, ``anthropic[:MODEL_ID]``,
``bedrock[:MODEL_ID]``) and call ``complete`` with a :class:`ModelRequest`.

The protocol types load eagerly; the providers load on first use, so code that only needs
the types (tool Lambdas, the store) does not pay for importing the ``anthropic`` SDK (about
a second of cold start).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from fixloop.llm.protocol import (
    ContentBlock,
    DeltaSink,
    Model,
    ModelRequest,
    ModelResponse,
    StreamDelta,
    ToolDefinition,
    Usage,
)

if TYPE_CHECKING:
    from fixloop.llm.anthropic import (
        DEFAULT_ANTHROPIC_MODEL,
        AnthropicModel,
        anthropic_model,
        bedrock_model,
    )
    from fixloop.llm.bedrock import DEFAULT_BEDROCK_MODEL, default_bedrock_model
    from fixloop.llm.factory import clear_model_cache, model_from_spec
    from fixloop.llm.scripted import ScriptedModel, scripted_tool_use_id

__all__ = [
    "DEFAULT_ANTHROPIC_MODEL",
    "DEFAULT_BEDROCK_MODEL",
    "AnthropicModel",
    "ContentBlock",
    "DeltaSink",
    "Model",
    "ModelRequest",
    "ModelResponse",
    "ScriptedModel",
    "StreamDelta",
    "ToolDefinition",
    "Usage",
    "anthropic_model",
    "bedrock_model",
    "clear_model_cache",
    "default_bedrock_model",
    "model_from_spec",
    "scripted_tool_use_id",
]

_LAZY = {
    "DEFAULT_ANTHROPIC_MODEL": "fixloop.llm.anthropic",
    "DEFAULT_BEDROCK_MODEL": "fixloop.llm.bedrock",
    "default_bedrock_model": "fixloop.llm.bedrock",
    "AnthropicModel": "fixloop.llm.anthropic",
    "anthropic_model": "fixloop.llm.anthropic",
    "bedrock_model": "fixloop.llm.anthropic",
    "clear_model_cache": "fixloop.llm.factory",
    "model_from_spec": "fixloop.llm.factory",
    "ScriptedModel": "fixloop.llm.scripted",
    "scripted_tool_use_id": "fixloop.llm.scripted",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
