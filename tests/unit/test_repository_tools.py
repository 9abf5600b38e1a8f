from __future__ import annotations

from pathlib import Path

import pytest

from fixloop.domain import Investigation, parse_signal
from fixloop.errors import ToolFailed
from fixloop.tools import ToolContext, cap_output, default_registry
from tests.support import alarm_event, head


def _ctx(repo: Path, limit: int = 10_000) -> ToolContext:
    inv = Investigation(
        investigation_id="inv-1", title="t", repo=str(repo), commit=head(repo), model="scripted:x"
    )
    return ToolContext(
        investigation=inv, signal=parse_signal(alarm_event()), max_output_chars=limit
    )


def _run(name: str, ctx: ToolContext, **inp: object) -> str:
    tool = default_registry().get(name)
    assert tool is not None and tool.run is not None
    return tool.run(ctx, tool.parse_input(inp))


def test_read_file_numbers_lines_at_the_investigated_commit(repo: Path) -> None:
    ctx = _ctx(repo)
    # an uncommitted edit is not what is under investigation
    (repo / "app/handler.py").write_text("changed\n")
    out = _run("read_file", ctx, path="app/handler.py", start_line=2)
    assert "(lines 2-2 of 2)" in out
    assert "    2      return event['user']['id']" in out


def test_list_and_search(repo: Path) -> None:
    ctx = _ctx(repo)
    assert _run("list_files", ctx, path="app").split() == ["app/handler.py", "app/util.py"]
    out = _run("search_code", ctx, pattern=r"def \w+")
    assert "app/handler.py:1:def handle(event):" in out
    assert out.startswith("2 matches")
    assert (
        _run("search_code", ctx, pattern="nothing-like-this")
        == "no matches for /nothing-like-this/"
    )


@pytest.mark.parametrize(
    ("name", "inp", "message"),
    [
        ("read_file", {"path": "../etc/passwd"}, "leaves the repository"),
        ("read_file", {"path": "missing.py"}, "not a file"),
        ("read_file", {"path": "app"}, "is a directory"),
        ("read_file", {"path": "README.md", "start_line": 9}, "past the end"),
        ("list_files", {"path": "nowhere"}, "no files under"),
        ("search_code", {"pattern": "("}, "Unmatched"),
    ],
)
def test_tool_failures_are_messages_for_the_model(
    repo: Path, name: str, inp: dict[str, object], message: str
) -> None:
    with pytest.raises(ToolFailed, match=message):
        _run(name, _ctx(repo), **inp)


def test_invalid_input_is_a_tool_failure() -> None:
    tool = default_registry().get("read_file")
    assert tool is not None
    with pytest.raises(ToolFailed, match="invalid input for read_file: path: Field required"):
        tool.parse_input({})


def test_output_cap_says_what_was_cut() -> None:
    text = "".join(f"line {i}\n" for i in range(5000))
    out = cap_output(text, 1000)
    assert len(out) < 1100
    assert out.startswith("line 0")
    assert out.rstrip().endswith("line 4999")
    assert "characters cut: output exceeded 1000" in out


def test_registry_exposes_schemas_and_terminal_tools() -> None:
    reg = default_registry()
    defs = {d.name: d for d in reg.definitions()}
    assert {"get_signal", "read_file", "open_pull_request", "finish"} <= set(defs)
    assert defs["open_pull_request"].input_schema["required"] == ["title", "body"]
    assert reg.get("finish") is not None and reg.get("finish").terminal  # type: ignore[union-attr]
    assert not reg.get("read_file").terminal  # type: ignore[union-attr]
