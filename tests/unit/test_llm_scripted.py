"""ScriptedModel: a replay of assistant turns, checked up front, streamed like a provider."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fixloop.errors import ScriptError
from fixloop.llm import (
    Model,
    ModelRequest,
    ScriptedModel,
    StreamDelta,
    clear_model_cache,
    model_from_spec,
    scripted_tool_use_id,
)

TOOLS = {"search_logs", "read_file"}


def _write(tmp_path: Path, *lines: Any) -> Path:
    """A script file; dicts and lists become JSON lines, strings are written as they are."""
    path = tmp_path / "script.jsonl"
    path.write_text(
        "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"
    )
    return path


def _request(turn: int, investigation_id: str = "inv-1") -> ModelRequest:
    return ModelRequest(
        system="You investigate.",
        messages=[{"role": "user", "content": "Errors spiked."}],
        turn=turn,
        investigation_id=investigation_id,
    )


TURN_1 = {
    "content": [
        {"type": "thinking", "thinking": "Check the logs first."},
        {"type": "text", "text": "Searching the logs for the error."},
        {"type": "tool_use", "name": "search_logs", "input": {"query": "ERROR checkout"}},
    ]
}
TURN_2 = {"content": [{"type": "text", "text": "The root cause is a null price."}]}


def test_replays_turns_in_order_with_default_stop_reasons(tmp_path: Path) -> None:
    # Given a two-turn script with a blank line between the turns
    model = ScriptedModel.from_file(_write(tmp_path, TURN_1, "", TURN_2), known_tools=TOOLS)

    # When turns 1 and 2 are requested
    first = model.complete(_request(1))
    second = model.complete(_request(2))

    # Then each line is replayed, with stop reasons from its content
    assert isinstance(model, Model)
    assert model.name == f"scripted:{tmp_path / 'script.jsonl'}"
    assert [turn.line for turn in model.turns] == [1, 3]
    assert first.stop_reason == "tool_use"
    assert first.content[1] == {"type": "text", "text": "Searching the logs for the error."}
    assert first.content[0]["signature"] == "scripted"
    assert second.stop_reason == "end_turn"
    assert second.content == TURN_2["content"]
    assert first.usage.input_tokens > 0
    assert first.usage.output_tokens > 0


def test_generated_tool_ids_are_stable_across_calls_and_distinct_across_turns(
    tmp_path: Path,
) -> None:
    # Given a script whose tool calls have no ids
    model = ScriptedModel.from_file(_write(tmp_path, TURN_1, TURN_1))

    # When the same turn is requested twice (a retry) and another turn once
    first = model.complete(_request(1))
    retried = model.complete(_request(1))
    other_turn = model.complete(_request(2))
    other_investigation = model.complete(_request(1, investigation_id="inv-2"))

    # Then the retry gets the same id, derived from investigation, turn and block index
    tool_id = first.content[2]["id"]
    assert tool_id == scripted_tool_use_id("inv-1", 1, 2)
    assert tool_id.startswith("toolu_") and len(tool_id) == len("toolu_") + 24
    assert retried.content[2]["id"] == tool_id
    assert other_turn.content[2]["id"] != tool_id
    assert other_investigation.content[2]["id"] != tool_id


def test_keeps_ids_signatures_and_stop_reasons_the_script_gives(tmp_path: Path) -> None:
    # Given a script spelling out ids, a signature and a stop reason
    line = {
        "content": [
            {"type": "thinking", "thinking": "hm", "signature": "real-sig"},
            {"type": "redacted_thinking", "data": "opaque"},
            {"type": "tool_use", "id": "toolu_given", "name": "read_file", "input": {}},
        ],
        "stop_reason": "max_tokens",
    }
    model = ScriptedModel.from_file(_write(tmp_path, line))

    # When the turn is replayed
    response = model.complete(_request(1))

    # Then they are kept, and the script itself is not modified by replaying
    assert response.content == line["content"]
    assert response.stop_reason == "max_tokens"
    response.content[2]["input"]["path"] = "changed"
    assert model.complete(_request(1)).content[2]["input"] == {}


def test_streams_blocks_through_on_delta_in_chunks(tmp_path: Path) -> None:
    # Given a script with thinking, text and a tool call
    model = ScriptedModel.from_file(_write(tmp_path, TURN_1))
    deltas: list[StreamDelta] = []

    # When the turn is replayed with a delta sink
    model.complete(_request(1), deltas.append)

    # Then each block arrives in several fragments that add up to it
    def joined(index: int) -> str:
        return "".join(d.text for d in deltas if d.index == index)

    assert [d.kind for d in deltas if d.index == 0] == ["thinking"] * 3
    assert joined(0) == "Check the logs first."
    assert [d.kind for d in deltas if d.index == 1] == ["text"] * 3
    assert joined(1) == "Searching the logs for the error."
    assert {d.kind for d in deltas if d.index == 2} == {"tool_input"}
    assert json.loads(joined(2)) == {"query": "ERROR checkout"}


def test_a_turn_beyond_the_end_of_the_script_is_an_error(tmp_path: Path) -> None:
    # Given a two-turn script (ending with a tool call)
    path = _write(tmp_path, TURN_2, TURN_1)
    model = ScriptedModel.from_file(path)

    # When turn 3 is requested, then the error says how many turns there are
    with pytest.raises(ScriptError) as caught:
        model.complete(_request(3))
    assert str(caught.value) == f"script {path} has 2 turns; turn 3 was requested"


def test_a_script_that_concludes_in_words_answers_fixloops_nudge_with_its_last_reply(
    tmp_path: Path,
) -> None:
    # Given a script whose last reply calls no tool (fixloop answers it with one note)
    path = _write(tmp_path, TURN_1, TURN_2)
    model = ScriptedModel.from_file(path)
    # When the turn after it is requested, Then the recorded reply stands, once
    assert model.complete(_request(3)).content == TURN_2["content"]
    with pytest.raises(ScriptError, match="has 2 turns; turn 4 was requested"):
        model.complete(_request(4))


@pytest.mark.parametrize(
    ("lines", "line_number", "problem"),
    [
        (["{not json"], 1, "invalid JSON"),
        ([TURN_2, "[1, 2]"], 2, "expected a JSON object, got a list"),
        ([TURN_2, "", {"stop_reason": "end_turn"}], 3, 'missing "content"'),
        ([{"content": "hello"}], 1, '"content" must be a list'),
        ([{"content": []}], 1, '"content" is empty'),
        ([{"content": ["hi"]}], 1, "content block 0 must be an object, got a string"),
        ([{"content": [{"text": "hi"}]}], 1, "content block 0 has no type"),
        ([{"content": [{"type": "image"}]}], 1, 'content block 0 has unknown type "image"'),
        ([{"content": [{"type": "text"}]}], 1, 'needs a string "text"'),
        ([{"content": [{"type": "tool_use", "input": {}}]}], 1, '(tool_use) has no "name"'),
        (
            [TURN_2, {"content": [{"type": "tool_use", "name": "read_file", "input": "a.py"}]}],
            2,
            '"input" must be an object, got a string',
        ),
        (
            [{"content": [{"type": "tool_use", "name": "deploy", "input": {}}]}],
            1,
            "calls unknown tool 'deploy'; known tools: read_file, search_logs",
        ),
        ([{"content": [{"type": "text", "text": "x"}], "stop_reason": "done"}], 1, "stop_reason"),
        (
            [{"content": [{"type": "text", "text": "x"}], "stop_reason": "tool_use"}],
            1,
            "has no tool_use block",
        ),
    ],
)
def test_a_malformed_line_is_reported_with_file_and_line_number(
    tmp_path: Path, lines: list[Any], line_number: int, problem: str
) -> None:
    # Given a script with one bad line
    path = _write(tmp_path, *lines)

    # When it is loaded
    with pytest.raises(ScriptError) as caught:
        ScriptedModel.from_file(path, known_tools=TOOLS)

    # Then a one-line message names the file, the line and the problem
    message = str(caught.value)
    assert message.startswith(f"{path}:{line_number}: ")
    assert problem in message
    assert "\n" not in message


def test_an_unreadable_or_empty_file_is_an_error(tmp_path: Path) -> None:
    # Given a missing file, an empty one and one with only blank lines
    missing = tmp_path / "missing.jsonl"
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    blank = tmp_path / "blank.jsonl"
    blank.write_text("\n  \n")

    # When they are loaded, then each fails with a one-line message naming the file
    with pytest.raises(ScriptError, match=f"cannot read script {missing}"):
        ScriptedModel.from_file(missing)
    with pytest.raises(ScriptError, match=f"script {empty} is empty"):
        ScriptedModel.from_file(empty)
    with pytest.raises(ScriptError, match=f"script {blank} is empty"):
        ScriptedModel.from_file(blank)


def test_tool_names_are_not_checked_without_known_tools(tmp_path: Path) -> None:
    # Given a script calling any tool, when it is loaded without known_tools, then it loads
    line = {"content": [{"type": "tool_use", "name": "anything", "input": {}}]}
    assert len(ScriptedModel.from_file(_write(tmp_path, line)).turns) == 1


def test_a_script_is_parsed_once_per_version_of_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a script named by a spec, and a count of the files ScriptedModel parses
    path = _write(tmp_path, TURN_1)
    parsed: list[str] = []
    from_file = ScriptedModel.from_file.__func__  # type: ignore[attr-defined]

    def counting(cls: type[ScriptedModel], *args: Any, **kwargs: Any) -> ScriptedModel:
        parsed.append(str(args[0]))
        model: ScriptedModel = from_file(cls, *args, **kwargs)
        return model

    monkeypatch.setattr(ScriptedModel, "from_file", classmethod(counting))
    clear_model_cache()
    spec = f"scripted:{path}"

    # When it is asked for every turn, then it is read and checked once
    first = model_from_spec(spec, known_tools=TOOLS)
    assert model_from_spec(spec, known_tools=TOOLS) is first
    assert len(parsed) == 1
    # and checked again against another set of tools, which may refuse it
    with pytest.raises(ScriptError, match="calls unknown tool 'search_logs'"):
        model_from_spec(spec, known_tools={"read_file"})
    assert len(parsed) == 2

    # When the file is edited, then the next turn replays the edit
    path.write_text(json.dumps(TURN_1) + "\n" + json.dumps(TURN_2) + "\n")
    edited = model_from_spec(spec, known_tools=TOOLS)
    assert isinstance(edited, ScriptedModel) and len(edited.turns) == 2
    assert len(parsed) == 3
    # and a broken edit fails the turn with the file and line, as an uncached read does
    path.write_text(json.dumps(TURN_1) + "\n{not json\n")
    with pytest.raises(ScriptError, match=f"{path}:2: invalid JSON"):
        model_from_spec(spec, known_tools=TOOLS)
    path.unlink()
    with pytest.raises(ScriptError, match=f"cannot read script {path}"):
        model_from_spec(spec, known_tools=TOOLS)

    # When the cache is cleared, then the next call reads the file again
    path.write_text(json.dumps(TURN_2) + "\n")
    model_from_spec(spec, known_tools=TOOLS)
    clear_model_cache()
    model_from_spec(spec, known_tools=TOOLS)
    assert len(parsed) == 7


def test_a_compaction_request_gets_an_extract_of_the_transcript(tmp_path: Path) -> None:
    # Given a script and a compaction request carrying a transcript and an earlier summary
    model = ScriptedModel.from_file(_write(tmp_path, TURN_1), known_tools=TOOLS)
    transcript = "\n".join(
        [
            "[previous summary]",
            "- the coupon table was truncated",
            "[signal]",
            "Signal: orders-5xx",
            "[assistant] The error is in apply_coupon.",
            "[search_logs result] 40 lines",
        ]
    )
    request = ModelRequest(
        system="Summarise.",
        messages=[{"role": "user", "content": [{"type": "text", "text": transcript}]}],
        turn=7,
        purpose="compaction",
        cache=False,
    )
    # When it completes, then the answer is a labelled extract of the model's own lines and
    # of the earlier summary, not a scripted turn
    response = model.complete(request)
    (block,) = response.content
    assert block["text"].startswith("Scripted summary")
    assert "- the coupon table was truncated" in block["text"]
    assert "[assistant] The error is in apply_coupon." in block["text"]
    assert "40 lines" not in block["text"]
    assert response.usage.input_tokens > 0
