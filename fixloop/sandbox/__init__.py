"""The sandbox: the investigation's workspace and the code tools that run against it.

A workspace is the repository at the investigated commit plus the investigation's edits
(:mod:`fixloop.sandbox.workspace`); the code tools read, search, edit and run commands in it
(:mod:`fixloop.sandbox.tools`).
"""

from fixloop.sandbox.tools import SANDBOX_TOOLS
from fixloop.sandbox.workspace import AppliedCall, Snapshot, Workspace, WorkspaceError

__all__ = ["SANDBOX_TOOLS", "AppliedCall", "Snapshot", "Workspace", "WorkspaceError"]
