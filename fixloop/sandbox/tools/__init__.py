"""The code tools: read, list, search, edit, write, run a command, diff, blame the suspects,
summarise the repository.

Each tool is data (name, description, input model) plus one function, and runs only in the
investigation's sandbox, with a :class:`SandboxContext` that carries the
:class:`~fixloop.sandbox.workspace.Workspace`. Mutating tools are marked so the sandbox
journals them (never applied twice).
"""

from __future__ import annotations

from fixloop.sandbox.tools.commands import RUN_COMMAND, command_env
from fixloop.sandbox.tools.context import SandboxContext
from fixloop.sandbox.tools.files import EDIT_FILE, GIT_DIFF, LIST_FILES, READ_FILE, WRITE_FILE
from fixloop.sandbox.tools.overview import REPOSITORY_OVERVIEW
from fixloop.sandbox.tools.search import SEARCH_CODE
from fixloop.sandbox.tools.suspects import SUSPECT_COMMITS
from fixloop.tools.registry import Tool, ToolRegistry

__all__ = [
    "REPOSITORY_OVERVIEW",
    "SANDBOX_TOOLS",
    "SUSPECT_COMMITS",
    "SandboxContext",
    "command_env",
    "sandbox_registry",
]

SANDBOX_TOOLS: list[Tool] = [
    READ_FILE,
    LIST_FILES,
    SEARCH_CODE,
    EDIT_FILE,
    WRITE_FILE,
    RUN_COMMAND,
    GIT_DIFF,
    SUSPECT_COMMITS,
    REPOSITORY_OVERVIEW,
]


def sandbox_registry() -> ToolRegistry:
    """The tools a sandbox runs."""
    return ToolRegistry(SANDBOX_TOOLS)
