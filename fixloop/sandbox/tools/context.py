"""What a code tool gets: the tool context plus the investigation's workspace."""

from __future__ import annotations

from dataclasses import dataclass

from fixloop.errors import ToolFailed
from fixloop.sandbox.workspace import Workspace
from fixloop.tools.registry import ToolContext

__all__ = ["SandboxContext", "workspace_of"]


@dataclass(frozen=True)
class SandboxContext(ToolContext):
    workspace: Workspace


def workspace_of(ctx: ToolContext, tool: str) -> Workspace:
    """The workspace a code tool works in; a tool failure when the call did not reach the
    sandbox (only the sandbox server gives a :class:`SandboxContext`)."""
    if not isinstance(ctx, SandboxContext):
        raise ToolFailed(f"{tool} runs only in the sandbox, which this call did not reach")
    return ctx.workspace
