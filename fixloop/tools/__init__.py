"""Tools the model can call: data plus one function each, in a registry."""

from fixloop.tools.builtin import ASK_HUMAN, FINISH, OPEN_PULL_REQUEST, default_registry
from fixloop.tools.registry import Tool, ToolContext, ToolRegistry, cap_output

__all__ = [
    "ASK_HUMAN",
    "FINISH",
    "OPEN_PULL_REQUEST",
    "Tool",
    "ToolContext",
    "ToolRegistry",
    "cap_output",
    "default_registry",
]
