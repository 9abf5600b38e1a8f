"""A replay of recorded assistant turns, for tests and the offline demo.

:class:`ScriptedModel` is not a model: it reads nothing of the prompt and decides nothing. It
replays a JSONL file, one assistant turn per line, picked by the request's turn number::

    {"content": [{"type": "text", "text": "Let me look at the logs."},
                 {"type": "tool_use", "name": "search_logs", "input": {"query": "ERROR"}}]}
    {"content": [{"type": "text", "text": "Found it."}], "stop_reason": "end_turn"}

Each line holds Messages API content blocks (``text``, ``thinking``, ``redacted_thinking``,
``tool_use``) and an optional ``stop_reason`` (default ``tool_use`` when the turn calls a tool,
else ``end_turn``). The whole file is checked when it is loaded, so a broken script fails
before the first turn with its file and line number.

The replay behaves like a provider where the loop can tell: blocks are streamed to
``on_delta`` in a few fragments, tool_use ids missing from the script are derived from the
investigation, turn and block index (a retried turn gets the same ids), thinking blocks get a
placeholder signature, and usage is a rough estimate (four characters a token).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fixloop.errors import ScriptError
from fixloop.llm.caching import estimate_tokens
from fixloop.llm.protocol import (
    ContentBlock,
    DeltaSink,
    ModelRequest,
    ModelResponse,
    StreamDelta,
    Usage,
    message_texts,
)

__all__ = ["SCRIPTED_SIGNATURE", "ScriptedModel", "ScriptedTurn", "scripted_tool_use_id"]

SCRIPTED_SIGNATURE = "scripted"
"""The signature given to scripted thinking blocks that have none."""

BLOCK_TYPES = ("text", "thinking", "redacted_thinking", "tool_use")
STOP_REASONS = frozenset(
    {"end_turn", "tool_use", "max_tokens", "stop_sequence", "pause_turn", "refusal"}
)
_CHUNKS = 3


@dataclass(frozen=True)
class ScriptedTurn:
    """One assistant turn of a script, with the line it came from."""

    line: int
    content: list[ContentBlock]
    stop_reason: str


def scripted_tool_use_id(investigation_id: str, turn: int, block_index: int) -> str:
    """The id a scripted tool_use block gets when the script does not give one."""
    digest = hashlib.sha256(f"{investigation_id}:{turn}:{block_index}".encode()).hexdigest()
    return "toolu_" + digest[:24]


class ScriptedModel:
    """Replays a script of assistant turns (a replay, not a model; see the module docstring)."""

    def __init__(self, path: str, turns: Sequence[ScriptedTurn]) -> None:
        if not turns:
            raise ScriptError(f"script {path} has no turns")
        self.path = path
        self.turns = tuple(turns)
        self.name = f"scripted:{path}"

    def __repr__(self) -> str:
        return f"ScriptedModel(path={self.path!r}, turns={len(self.turns)})"

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str], known_tools: set[str] | None = None
    ) -> ScriptedModel:
        """Load and check a whole script; :class:`~fixloop.errors.ScriptError` if it is bad.

        ``known_tools``, when given, is the set of tool names a tool_use block may call.
        """
        shown = os.fspath(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ScriptError(f"cannot read script {shown}: not UTF-8 text ({exc.reason})") from exc
        except OSError as exc:
            raise ScriptError(f"cannot read script {shown}: {exc.strerror or exc}") from exc

        turns: list[ScriptedTurn] = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                turns.append(_parse_turn(line, number, known_tools))
            except _LineError as exc:
                raise ScriptError(f"{shown}:{number}: {exc}") from None
        if not turns:
            raise ScriptError(f"script {shown} is empty: it has no turns")
        return cls(shown, turns)

    def _turn(self, number: int) -> ScriptedTurn:
        """Line ``number`` of the script. A script that ends with a reply calling no tool (a
        conclusion in words) is asked once more after it: fixloop answers such a reply with
        one note asking to conclude or go on, and the recorded reply stands as the answer."""
        last = self.turns[-1]
        concludes_in_words = not any(b.get("type") == "tool_use" for b in last.content)
        if number == len(self.turns) + 1 and concludes_in_words:
            return last
        if not 1 <= number <= len(self.turns):
            raise ScriptError(
                f"script {self.path} has {len(self.turns)} turns; turn {number} was requested"
            )
        return self.turns[number - 1]

    def complete(self, request: ModelRequest, on_delta: DeltaSink | None = None) -> ModelResponse:
        """Replay turn ``request.turn`` (1-based), streaming its blocks to ``on_delta``.

        A compaction request gets an extract instead (a replay cannot summarise): the lines
        of the transcript it was given that carry the model's own words, capped."""
        if request.purpose == "compaction":
            summary = _extract(request)
            return ModelResponse(
                content=[{"type": "text", "text": summary}],
                stop_reason="end_turn",
                model=self.name,
                usage=Usage(
                    input_tokens=self.count_tokens(request),
                    output_tokens=estimate_tokens(summary),
                ),
            )
        turn = self._turn(request.turn)
        content = [
            _complete_block(block, request, index) for index, block in enumerate(turn.content)
        ]
        if on_delta is not None:
            for index, block in enumerate(content):
                for delta in _deltas(block, index):
                    on_delta(delta)

        return ModelResponse(
            content=content,
            stop_reason=turn.stop_reason,
            model=self.name,
            usage=Usage(
                input_tokens=self.count_tokens(request),
                output_tokens=estimate_tokens(content),
            ),
        )

    def count_tokens(self, request: ModelRequest) -> int:
        """The local estimate (four characters a token): a replay has no tokenizer."""
        return estimate_tokens(
            request.model_dump(mode="json", include={"system", "messages", "tools"})
        )


EXTRACT_CHARS = 8_000


def _extract(request: ModelRequest) -> str:
    """What a scripted compaction keeps: the earlier summary's and the assistant's lines."""
    keep: list[str] = ["Scripted summary (an extract of the transcript; no model was called):"]
    for message in request.messages:
        for text in message_texts(message):
            for line in text.splitlines():
                if line.startswith(("[assistant]", "- ")) and line not in keep:
                    keep.append(line)
    text = "\n".join(keep)
    if len(text) > EXTRACT_CHARS:
        half = EXTRACT_CHARS // 2
        text = text[:half] + "\n[...]\n" + text[-half:]
    return text


class _LineError(Exception):
    """What is wrong with one line; from_file adds the file and line number."""


def _parse_turn(line: str, number: int, known_tools: set[str] | None) -> ScriptedTurn:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise _LineError(f"invalid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise _LineError(f"expected a JSON object, got {_kind(data)}")
    if "content" not in data:
        raise _LineError('missing "content" (a list of content blocks)')
    content = data["content"]
    if not isinstance(content, list):
        raise _LineError(f'"content" must be a list of content blocks, got {_kind(content)}')
    if not content:
        raise _LineError('"content" is empty')
    for index, block in enumerate(content):
        _check_block(block, index, known_tools)

    has_tool_use = any(block["type"] == "tool_use" for block in content)
    stop_reason = data.get("stop_reason")
    if stop_reason is None:
        stop_reason = "tool_use" if has_tool_use else "end_turn"
    elif stop_reason not in STOP_REASONS:
        raise _LineError(
            f"unknown stop_reason {_short(stop_reason)}; expected one of "
            + ", ".join(sorted(STOP_REASONS))
        )
    elif stop_reason == "tool_use" and not has_tool_use:
        raise _LineError('stop_reason is "tool_use" but the turn has no tool_use block')
    return ScriptedTurn(line=number, content=content, stop_reason=stop_reason)


def _check_block(block: object, index: int, known_tools: set[str] | None) -> None:
    where = f"content block {index}"
    if not isinstance(block, dict):
        raise _LineError(f"{where} must be an object, got {_kind(block)}")
    kind = block.get("type")
    if kind not in BLOCK_TYPES:
        shown = "no type" if kind is None else f"unknown type {_short(kind)}"
        raise _LineError(f"{where} has {shown}; expected one of {', '.join(BLOCK_TYPES)}")

    required = {"text": "text", "thinking": "thinking", "redacted_thinking": "data"}
    if kind in required:
        field = required[kind]
        if not isinstance(block.get(field), str):
            raise _LineError(f'{where} ({kind}) needs a string "{field}"')
        if kind == "thinking" and not isinstance(block.get("signature", ""), str):
            raise _LineError(f'{where} (thinking) has a non-string "signature"')
        return

    # tool_use
    name = block.get("name")
    if not isinstance(name, str) or not name:
        raise _LineError(f'{where} (tool_use) has no "name"')
    if "input" in block and not isinstance(block["input"], dict):
        raise _LineError(
            f'{where} (tool_use {name}) "input" must be an object, got {_kind(block["input"])}'
        )
    if "id" in block and (not isinstance(block["id"], str) or not block["id"]):
        raise _LineError(f'{where} (tool_use {name}) "id" must be a non-empty string')
    if known_tools is not None and name not in known_tools:
        known = ", ".join(sorted(known_tools)) or "none"
        raise _LineError(f"{where} calls unknown tool {name!r}; known tools: {known}")


def _complete_block(block: ContentBlock, request: ModelRequest, index: int) -> ContentBlock:
    """A copy of a script block with what the API would always send filled in."""
    out = copy.deepcopy(block)
    if out["type"] == "tool_use":
        if not out.get("id"):
            out["id"] = scripted_tool_use_id(request.investigation_id, request.turn, index)
        out.setdefault("input", {})
    elif out["type"] == "thinking" and not out.get("signature"):
        out["signature"] = SCRIPTED_SIGNATURE
    return out


def _deltas(block: ContentBlock, index: int) -> list[StreamDelta]:
    kind = block["type"]
    if kind == "text":
        return [StreamDelta(index=index, kind="text", text=c) for c in _chunk(block["text"])]
    if kind == "thinking":
        return [
            StreamDelta(index=index, kind="thinking", text=c) for c in _chunk(block["thinking"])
        ]
    if kind == "tool_use":
        text = json.dumps(block["input"])
        return [StreamDelta(index=index, kind="tool_input", text=c) for c in _chunk(text)]
    return []  # redacted_thinking arrives whole, with no deltas, as from the API


def _chunk(text: str, parts: int = _CHUNKS) -> list[str]:
    """``text`` cut into at most ``parts`` non-empty pieces (none for an empty string)."""
    size = max(1, -(-len(text) // parts))
    return [text[i : i + size] for i in range(0, len(text), size)]


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."
