"""Tools are data (name, description, input schema) plus one function.

A tool's function gets a :class:`ToolContext` and its validated input, and returns text for
the model. It raises :class:`fixloop.errors.ToolFailed` for failures the model should see
(a missing file, a bad pattern); any other exception is an infrastructure failure that the
state machine retries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from fixloop.domain import Investigation, Signal
from fixloop.errors import ToolFailed
from fixloop.llm.protocol import ToolDefinition

RunsIn = Literal["lambda", "sandbox"]
"""Where a tool runs: in the Run Tool Lambda, or in the investigation's sandbox.

(Not named ``where``: moto's JSONPath parser takes it for a keyword.)"""


@dataclass(frozen=True)
class ToolContext:
    investigation: Investigation
    signal: Signal
    max_output_chars: int


ToolFunction = Callable[[Any, Any], str]
"""``(context, validated input) -> text``: the context is a :class:`ToolContext`, or the
subclass of it that the tool's runtime gives (the sandbox's carries the workspace)."""


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    input_model: type[BaseModel]
    run: ToolFunction | None = None
    """None for terminal tools: the state machine routes them instead of running them."""
    runs_in: RunsIn = "lambda"
    mutating: bool = False
    """Changes the workspace: the sandbox journals it so it is never applied twice."""
    asks_human: bool = False
    """Not run either: the state machine waits for a person's reply (Wait For Human)."""

    @property
    def terminal(self) -> bool:
        """Concludes the investigation: routed to Deliver, never run."""
        return self.run is None and not self.asks_human

    def definition(self) -> ToolDefinition:
        schema = self.input_model.model_json_schema()
        schema.pop("title", None)
        return ToolDefinition(name=self.name, description=self.description, input_schema=schema)

    def parse_input(self, raw: Any) -> BaseModel:
        """Validate the model's input; a mismatch is a ToolFailed the model can act on."""
        try:
            return self.input_model.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}" for e in exc.errors()
            )
            raise ToolFailed(
                f"invalid input for {self.name}: {problems}. Correct the input as the tool's "
                "schema describes and call it again"
            ) from exc


class ToolRegistry:
    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        self._definitions: list[ToolDefinition] | None = None
        for tool in tools:
            self.register(tool)

    def register(self, tool: Tool) -> None:
        if tool.name in self._tools:
            raise ValueError(f"tool {tool.name} is registered twice")
        self._tools[tool.name] = tool
        self._definitions = None

    def unregister(self, name: str) -> None:
        """Remove a tool (the registry is process-wide: tests remove what they added)."""
        if self._tools.pop(name, None) is not None:
            self._definitions = None

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    @property
    def names(self) -> set[str]:
        return set(self._tools)

    def definitions(self) -> list[ToolDefinition]:
        """The tools' definitions, built once (JSON schema generation costs ~40 ms a turn):
        also what keeps them byte-identical from turn to turn for prompt caching."""
        if self._definitions is None:
            self._definitions = [t.definition() for t in self._tools.values()]
        return [d.model_copy() for d in self._definitions]


def cap_output(text: str, limit: int) -> str:
    """Cut long output to at most ``limit`` characters and say so, keeping the head and the
    tail (where errors usually are). Capping capped output changes nothing."""
    if len(text) <= limit:
        return text
    marker = "\n[... {cut} characters cut: output exceeded {limit} ...]\n"
    room = max(limit - len(marker.format(cut=len(text), limit=limit)), 0)
    head = room * 2 // 3
    tail = room - head
    cut = len(text) - head - tail
    return text[:head] + marker.format(cut=cut, limit=limit) + (text[-tail:] if tail else "")
