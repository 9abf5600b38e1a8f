"""The tools the model is given: built-in, telemetry and instrumentation (Run Tool) and code
tools (sandbox)."""

from __future__ import annotations

from functools import lru_cache

from fixloop.aftercare import OPEN_INSTRUMENTATION_PULL_REQUEST
from fixloop.domain.events import ContentBlock
from fixloop.domain.investigation import ToolCallRef
from fixloop.sandbox.tools import SANDBOX_TOOLS
from fixloop.tools import ASK_HUMAN, FINISH, OPEN_PULL_REQUEST, SIGNAL_TOOL, ToolRegistry
from fixloop.tools.telemetry import TELEMETRY_TOOLS

__all__ = ["default_registry", "map_items"]


@lru_cache(maxsize=1)
def default_registry() -> ToolRegistry:
    """Every tool, in a fixed order: the definitions are sent byte-identical each turn, which
    keeps the prompt's cached prefix valid."""
    return ToolRegistry(
        [
            SIGNAL_TOOL,
            *TELEMETRY_TOOLS,
            OPEN_INSTRUMENTATION_PULL_REQUEST,
            *SANDBOX_TOOLS,
            ASK_HUMAN,
            OPEN_PULL_REQUEST,
            FINISH,
        ]
    )


def map_items(uses: list[ContentBlock]) -> list[ToolCallRef]:
    """The Run Tools Map's items: each call's id and where it runs (unknown tools run in
    Run Tool, which tells the model so)."""
    registry = default_registry()
    items = []
    for use in uses:
        tool = registry.get(str(use["name"]))
        items.append(
            ToolCallRef(id=str(use["id"]), runs_in=tool.runs_in if tool is not None else "lambda")
        )
    return items
