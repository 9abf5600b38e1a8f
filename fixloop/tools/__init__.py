"""Tools the model can call: data plus one function each, in a registry; how a turn's
calls are classified, run once, and each answered by exactly one result."""

from fixloop.tools.builtin import ASK_HUMAN, FINISH, OPEN_PULL_REQUEST, SIGNAL_TOOL
from fixloop.tools.registry import RunsIn, Tool, ToolContext, ToolRegistry, cap_output

__all__ = [
    "ASK_HUMAN",
    "FINISH",
    "OPEN_PULL_REQUEST",
    "SIGNAL_TOOL",
    "RunsIn",
    "Tool",
    "ToolContext",
    "ToolRegistry",
    "cap_output",
]
