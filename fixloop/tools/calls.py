"""What the tool calls of one turn ask for: run tools, wait for a person, or conclude.

The one place that reads a turn's ``tool_use`` blocks by kind. Which tools conclude or wait
is a property of the built-in tools (:mod:`fixloop.tools.builtin`), so classifying needs no
registry: a call with valid input to ``open_pull_request`` or ``finish`` concludes, one to
``ask_human`` waits; the same calls with invalid input run as ordinary tools, which answer
with the validation error so the model can correct itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fixloop.errors import ToolFailed
from fixloop.tools.builtin import ASK_HUMAN, FINISH, OPEN_PULL_REQUEST
from fixloop.tools.registry import Tool

__all__ = ["Call", "TurnCalls", "calls_of"]

_ROUTED: dict[str, Tool] = {t.name: t for t in (ASK_HUMAN, OPEN_PULL_REQUEST, FINISH)}
"""Tools the state machine routes instead of running (when their input is valid)."""


@dataclass(frozen=True)
class Call:
    """One ``tool_use`` block of a turn, with its position among the turn's calls."""

    index: int
    id: str
    name: str
    input: Any = None
    """As the model sent it (validated only by the tool that reads it)."""

    @property
    def args(self) -> dict[str, Any]:
        """The input as a dict (empty when the model sent something else)."""
        return dict(self.input) if isinstance(self.input, dict) else {}

    @property
    def valid_routed(self) -> Tool | None:
        """The built-in tool this call routes to, if it is one and its input is valid."""
        tool = _ROUTED.get(self.name)
        if tool is None:
            return None
        try:
            tool.parse_input(self.input)
        except ToolFailed:
            return None
        return tool


@dataclass(frozen=True)
class TurnCalls:
    """The calls of one turn, classified once."""

    calls: tuple[Call, ...]
    conclusion: Call | None
    """The first concluding call with valid input (``open_pull_request`` or ``finish``)."""
    question: Call | None
    """The first ``ask_human`` call with valid input."""

    @property
    def concludes(self) -> bool:
        """The model concluded: a concluding call, or a turn without any tool call."""
        return self.conclusion is not None or not self.calls

    @property
    def opens_pull_request(self) -> bool:
        return self.conclusion is not None and self.conclusion.name == OPEN_PULL_REQUEST.name

    @property
    def awaiting(self) -> Call | None:
        """The call a person's reply answers: the question, else a pull request (which may
        wait for approval, or for review feedback once delivered)."""
        if self.question is not None:
            return self.question
        return self.conclusion if self.opens_pull_request else None

    def others(self, keep: Call | None) -> list[Call]:
        """Every call but ``keep``."""
        return [c for c in self.calls if keep is None or c.index != keep.index]


def calls_of(uses: Sequence[dict[str, Any]]) -> TurnCalls:
    """Classify a turn's ``tool_use`` blocks (``AssistantMessage.tool_uses()``)."""
    calls = tuple(
        Call(index=i, id=str(u.get("id", "")), name=str(u.get("name", "")), input=u.get("input"))
        for i, u in enumerate(uses)
    )
    conclusion = next((c for c in calls if (t := c.valid_routed) is not None and t.terminal), None)
    question = next((c for c in calls if (t := c.valid_routed) is not None and t.asks_human), None)
    return TurnCalls(calls=calls, conclusion=conclusion, question=question)
