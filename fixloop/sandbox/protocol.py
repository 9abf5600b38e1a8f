"""What the dispatcher sends a sandbox: one tool call and the task token to answer."""

from __future__ import annotations

from pydantic import BaseModel

from fixloop.domain.events import tool_result_position


class SandboxCall(BaseModel):
    task_token: str
    investigation_id: str
    turn: int
    index: int
    tool_use_id: str

    @property
    def key(self) -> str:
        """The call's identity in the workspace journal (its log position)."""
        return tool_result_position(self.turn, self.index)
