"""What the dispatcher hands a sandbox, and what the sandbox hands back.

The sandbox is on the untrusted side of the boundary: it runs the model's commands on the
repository's code. It holds no table access and no credentials but its own task's right to
answer task tokens. Everything a call needs comes in the call (the tool, its input, the
investigation's facts, the signal); everything it produces goes out through pre-signed S3
URLs the dispatcher made for this one call (the result, the workspace snapshot) and through
the task token. The trusted side (Run Tool's recording step) reads the result back from the
key it derives itself and writes it to the log.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from fixloop.domain import Investigation, Signal
from fixloop.domain.events import tool_result_position

__all__ = [
    "SandboxCall",
    "SandboxResult",
    "WorkspaceSource",
    "result_key",
    "snapshot_key",
]


def snapshot_key(investigation_id: str) -> str:
    """Where the investigation's workspace snapshot lives in the blob bucket."""
    return f"sandboxes/{investigation_id}/workspace.json"


def result_key(investigation_id: str, position: str) -> str:
    """Where the sandbox puts the result of the call at ``position`` (derived by both sides:
    the recording step never takes a key from the sandbox)."""
    return f"sandboxes/{investigation_id}/results/{position}.json"


class WorkspaceSource(BaseModel):
    """How to open the workspace when the sandbox has none yet."""

    repo: str
    commit: str
    clone_header: str | None = None
    """``Authorization: ...`` for a private repository: a read-only token an hour long,
    sent by the clone command only."""
    snapshot_url: str = ""
    """A pre-signed GET of the latest snapshot, when there is one: restore it instead."""


class SandboxCall(BaseModel):
    task_token: str
    investigation_id: str
    turn: int
    index: int
    tool_use_id: str
    name: str
    input: Any = None
    investigation: Investigation
    signal: Signal
    max_output_chars: int
    workspace: WorkspaceSource
    result_url: str
    """A pre-signed PUT of :func:`result_key` for this call."""
    snapshot_url: str
    """A pre-signed PUT of :func:`snapshot_key`: a mutating call is journaled there before
    its result is put."""
    position: str = ""
    """Where its result goes in the log, when not at the call's tool result position (a
    verification: :func:`~fixloop.domain.events.verification_position`)."""

    @property
    def key(self) -> str:
        """The call's identity in the workspace journal (its log position)."""
        return self.position or tool_result_position(self.turn, self.index)


class SandboxResult(BaseModel):
    """A call's result as the sandbox puts it (untrusted: the recording step bounds it)."""

    content: str = Field(max_length=2_000_000)
    is_error: bool = False
    duration_ms: int = Field(default=0, ge=0)
    mutating: bool = False
