"""The live view's cards: every answer format fixloop.live.cards reads, produced by the real
tools, and the fields each kind of call shows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fixloop.agent.toolset import default_registry
from fixloop.domain import Investigation, parse_signal
from fixloop.domain.events import AssistantMessage, SignalReceived, ToolResult
from fixloop.live.cards import call_card, diff_lines, result_card
from fixloop.live.event_views import console_url, event_view, signal_card
from fixloop.live.messages import MAX_SPLIT_BYTES, event_messages
from fixloop.sandbox import Workspace
from fixloop.sandbox.tools import SandboxContext
from fixloop.store import StoredEvent
from tests.support import alarm_event, head, logs_message, make_repo

PRICING = "RATES = {'SPRING': 10}\n\n\ndef total(code):\n    return RATES[code]\n"


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    src = make_repo(tmp_path / "src", {"orders/pricing.py": PRICING, "empty.txt": ""})
    return Workspace.create(tmp_path / "ws", src, head(src))


def _result(ws: Workspace, name: str, limit: int = 10_000, **inp: object) -> ToolResult:
    """What the real tool answers, as the log holds it."""
    tool = default_registry().get(name)
    assert tool is not None and tool.run is not None
    inv = Investigation(investigation_id="inv-1", title="t", repo="r", model="scripted:x")
    ctx = SandboxContext(
        investigation=inv,
        signal=parse_signal(alarm_event()),
        max_output_chars=limit,
        workspace=ws,
    )
    content = tool.run(ctx, tool.parse_input(inp))
    return ToolResult(turn=1, tool_use_id="toolu_1", name=name, content=content, duration_ms=42)


def test_a_file_read_becomes_numbered_code(ws: Workspace) -> None:
    # Given read_file's answers for a whole file, a part of it, and an empty file
    whole = result_card(_result(ws, "read_file", path="orders/pricing.py"))
    part = result_card(_result(ws, "read_file", path="orders/pricing.py", start_line=4))
    empty = result_card(_result(ws, "read_file", path="empty.txt"))
    # Then each is the path, the line numbers and the code without the numbers
    assert whole["kind"] == "read" and whole["path"] == "orders/pricing.py"
    assert whole["numbers"] == [1, 2, 3, 4, 5]
    assert whole["code"] + "\n" == PRICING
    assert (whole["first_line"], whole["last_line"], whole["total_lines"]) == (1, 5, 5)
    assert part["numbers"] == [4, 5] and part["code"] == "def total(code):\n    return RATES[code]"
    assert empty["kind"] == "read" and empty["code"] == "" and empty["total_lines"] == 0
    assert whole["ok"] is True and whole["duration_ms"] == 42


def test_a_cut_file_read_keeps_the_note_of_the_cut_without_a_number(ws: Workspace) -> None:
    (ws.root / "long.py").write_text("".join(f"x{i} = {i}\n" for i in range(400)))
    card = result_card(_result(ws, "read_file", limit=600, path="long.py"))
    assert card["kind"] == "read"
    notes = [t for n, t in zip(card["numbers"], card["code"].split("\n"), strict=True) if n is None]
    assert any("characters cut" in note for note in notes)
    assert card["numbers"][:2] == [1, 2]
    assert len(card["numbers"]) == len(card["code"].split("\n"))


def test_a_command_becomes_its_exit_code_and_output(ws: Workspace) -> None:
    ok = result_card(_result(ws, "run_command", command="echo hello"))
    failed = result_card(_result(ws, "run_command", command="echo one\necho two >&2\nexit 3"))
    assert (ok["kind"], ok["command"], ok["exit_code"], ok["output"]) == (
        "command",
        "echo hello",
        0,
        "hello\n",
    )
    assert failed["command"] == "echo one\necho two >&2\nexit 3"
    assert failed["exit_code"] == 3
    assert "one" in failed["output"] and "two" in failed["output"]


def test_a_search_becomes_files_and_lines(ws: Workspace) -> None:
    found = result_card(_result(ws, "search_code", pattern=r"RATES\["))
    none = result_card(_result(ws, "search_code", pattern="nowhere"))
    assert found["kind"] == "search" and found["summary"] == "1 matches"
    assert found["matches"] == [
        {"path": "orders/pricing.py", "line": 5, "text": "    return RATES[code]"}
    ]
    assert none["kind"] == "search" and none["matches"] == []
    assert none["summary"].startswith("no matches")


def test_edits_writes_lists_and_diffs(ws: Workspace) -> None:
    edit = result_card(
        _result(
            ws,
            "edit_file",
            path="orders/pricing.py",
            old_text="    return RATES[code]",
            new_text="    if code not in RATES:\n        raise KeyError(code)\n"
            "    return RATES[code]",
        )
    )
    deleted = result_card(
        _result(ws, "edit_file", path="orders/pricing.py", old_text="RATES = ", new_text="")
    )
    created = result_card(_result(ws, "write_file", path="new.py", content="x = 1\n"))
    replaced = result_card(_result(ws, "write_file", path="new.py", content="x = 2\n"))
    listed = result_card(_result(ws, "list_files"))
    diff = result_card(_result(ws, "git_diff"))
    assert (edit["kind"], edit["path"], edit["old_start"], edit["new_start"]) == (
        "edit",
        "orders/pricing.py",
        5,
        5,
    )
    assert (deleted["kind"], deleted["old_start"]) == ("edit", 1)
    assert created["kind"] == "write" and created["created"] is True
    assert replaced["created"] is False
    assert listed["kind"] == "list" and "orders/pricing.py" in listed["files"]
    assert diff["kind"] == "diff" and "+        raise KeyError(code)" in diff["diff"]


def test_errors_and_unknown_answers_are_text() -> None:
    failed = ToolResult(turn=1, tool_use_id="t", name="read_file", content="x", is_error=True)
    odd = ToolResult(turn=1, tool_use_id="t", name="run_command", content="not a command")
    other = ToolResult(turn=1, tool_use_id="t", name="query_logs", content="12 rows")
    assert [result_card(r)["kind"] for r in (failed, odd, other)] == ["text"] * 3
    assert result_card(failed)["ok"] is False


def test_calls_show_what_their_kind_needs() -> None:
    def card(name: str, **inp: object) -> dict[str, object]:
        return call_card({"type": "tool_use", "id": "toolu_9", "name": name, "input": inp})

    assert card("read_file", path="a.py")["title"] == "Read a.py"
    assert (
        card("read_file", path="a.py", start_line=3, end_line=9)["title"] == "Read a.py, lines 3–9"
    )
    assert card("run_command", command="pytest -q")["command"] == "pytest -q"
    assert card("search_code", pattern="COUPONS")["title"] == "Search for COUPONS"
    edit = card("edit_file", path="a.py", old_text="a\nb\nc", new_text="a\nB\nc")
    assert edit["lines"] == [
        {"op": " ", "text": "a"},
        {"op": "-", "text": "b"},
        {"op": "+", "text": "B"},
        {"op": " ", "text": "c"},
    ]
    question = card("ask_human", question="Retry?", options=["yes", "no"])
    assert (question["kind"], question["options"]) == ("question", ["yes", "no"])
    logs = card("query_logs", query="fields @message", dimensions={"ApiName": "orders"}, n=[1, 2])
    assert logs["kind"] == "telemetry" and logs["title"] == "Query logs"
    assert logs["fields"] == [
        {"name": "query", "value": "fields @message"},
        {"name": "dimensions", "value": "ApiName=orders"},
        {"name": "n", "value": "1, 2"},
    ]
    assert card("browser_gate", gate="b1")["title"] == "Browser gate"


def test_diff_lines_of_a_deletion() -> None:
    assert diff_lines("a\nb", "") == [{"op": "-", "text": "a"}, {"op": "-", "text": "b"}]


def test_the_signal_view_says_where_and_when_with_a_console_link(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a deployment's region (a log signal does not carry one)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    alarm = signal_card(parse_signal(alarm_event()))
    logs = signal_card(parse_signal(logs_message(["ERROR one", "ERROR two"], "/aws/lambda/x")))
    assert alarm["console_url"] == (
        "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1"
        "#alarmsV2:alarm/orders-5xx"  # the alarm's own region
    )
    assert {"name": "Reason", "value": alarm_event()["detail"]["state"]["reason"]} in alarm[
        "fields"
    ]
    assert any(
        f["value"].startswith("AWS/ApiGateway 5XXError (ApiName=orders)") for f in alarm["fields"]
    )
    assert logs["count"] == 2 and logs["first_at"] < logs["latest_at"]
    assert logs["console_url"] == (
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1"
        "#logsV2:log-groups/log-group/$252Faws$252Flambda$252Fx"
    )
    assert console_url("alarm", "a", "") == ""


def test_event_views_and_their_messages() -> None:
    # Given an assistant message with text, thinking and a call, and a signal
    message = AssistantMessage(
        turn=1,
        content=[
            {"type": "thinking", "thinking": "hmm", "signature": "s"},
            {"type": "text", "text": "Reading **it**."},
            {"type": "tool_use", "id": "toolu_1", "name": "read_file", "input": {"path": "a"}},
        ],
        stop_reason="tool_use",
        model="m",
    )
    view = event_view(message)
    assert view is not None
    assert [b["type"] for b in view["blocks"]] == ["thinking", "text", "tool_call"]
    signal = SignalReceived(signal=parse_signal(alarm_event()))
    # Then a WebSocket message carries the view beside the event
    [sent] = event_messages(StoredEvent("inv", "t000000.0.signal", signal))
    assert json.loads(sent)["view"]["source"] == "orders-5xx"


def test_a_view_too_large_to_send_is_left_out_before_the_event_is_cut() -> None:
    # Given a file read whose answer with its view is over what is sent in parts
    lines = "\n".join(f"{n:>5}  {'y' * 90}" for n in range(1, 1_400))
    content = f"big.py (lines 1-1399 of 1399)\n{lines}"
    stored = StoredEvent(
        "inv",
        "t000001.2.000",
        ToolResult(turn=1, tool_use_id="t", name="read_file", content=content),
    )
    assert len(content) < MAX_SPLIT_BYTES < 2 * len(content)
    # When it is sent
    messages = event_messages(stored)
    joined = json.loads("".join(json.loads(m)["data"] for m in messages))
    # Then the event is whole and the view is left out (the page shows the text)
    assert joined["event"]["content"] == content
    assert "view" not in joined and "truncated" not in joined
