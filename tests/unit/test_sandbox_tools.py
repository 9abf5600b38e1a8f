from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from fixloop.agent.toolset import default_registry
from fixloop.domain import Investigation, parse_signal
from fixloop.errors import ToolFailed
from fixloop.sandbox import SANDBOX_TOOLS, Workspace
from fixloop.sandbox.tools import SandboxContext
from fixloop.tools import ToolContext, cap_output
from tests.support import alarm_event, head, make_repo, processes_with


@pytest.fixture
def ws(repo: Path, tmp_path: Path) -> Workspace:
    return Workspace.create(tmp_path / "ws", repo, head(repo))


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """One workspace for the module's tests that change nothing: a binary file, a link out."""
    tmp_path = tmp_path_factory.mktemp("shared")
    src = make_repo(tmp_path / "src", {"app/util.py": "x\n", "README.md": "# svc\n"})
    ws = Workspace.create(tmp_path / "ws", src, head(src))
    (ws.root / "logo.png").write_bytes(b"\x89PNG\0\0")
    (tmp_path / "outside").mkdir()
    (ws.root / "out").symlink_to(tmp_path / "outside")
    return ws


def _ctx(ws: Workspace | None, limit: int = 10_000) -> ToolContext:
    inv = Investigation(
        investigation_id="inv-1", title="t", repo="r", commit="c", model="scripted:x"
    )
    signal = parse_signal(alarm_event())
    if ws is None:
        return ToolContext(investigation=inv, signal=signal, max_output_chars=limit)
    return SandboxContext(investigation=inv, signal=signal, max_output_chars=limit, workspace=ws)


def _call(name: str, ws: Workspace | None, inp: dict[str, object], limit: int = 10_000) -> str:
    tool = default_registry().get(name)
    assert tool is not None and tool.run is not None
    return tool.run(_ctx(ws, limit), tool.parse_input(inp))


def _run(name: str, ws: Workspace | None, **inp: object) -> str:
    return _call(name, ws, inp)


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


# -- registry -------------------------------------------------------------------------------


def test_registry_has_the_sandbox_tools_and_the_terminal_tools() -> None:
    # Given the default registry
    reg = default_registry()
    # Then it has the signal and telemetry tools, the sandbox tools (suspect_commits among
    # them), ask_human, the terminal tools and the instrumentation pull request (which parks
    # the investigation until the next occurrence brings the telemetry)
    assert reg.names == {
        "ask_human",
        "get_signal",
        "query_logs",
        "get_metric_statistics",
        "get_trace_summaries",
        "get_trace",
        "recent_deployments",
        *(t.name for t in SANDBOX_TOOLS),
        "open_pull_request",
        "open_instrumentation_pull_request",
        "finish",
    }
    assert {t.name for t in SANDBOX_TOOLS} == {
        "read_file",
        "list_files",
        "search_code",
        "edit_file",
        "write_file",
        "run_command",
        "git_diff",
        "suspect_commits",
        "repository_overview",
    }
    assert all(t.runs_in == "sandbox" and not t.terminal for t in SANDBOX_TOOLS)
    assert {t.name for t in SANDBOX_TOOLS if t.mutating} == {
        "edit_file",
        "write_file",
        "run_command",
    }
    assert reg.get("finish").terminal  # type: ignore[union-attr]
    # and every input the model fills in is described to it
    for definition in reg.definitions():
        for name, prop in definition.input_schema.get("properties", {}).items():
            assert prop.get("description"), f"{definition.name}.{name} has no description"
    run = {d.name: d for d in reg.definitions()}["run_command"].input_schema
    assert run["properties"]["timeout_s"]["maximum"] == 1800
    assert run["required"] == ["command"]


@pytest.mark.parametrize(
    ("name", "inp", "message"),
    [
        ("read_file", {}, "invalid input for read_file: path: Field required"),
        ("run_command", {"command": "true", "timeout_s": 0}, "timeout_s: Input should be"),
        ("run_command", {"command": "true", "timeout_s": 1801}, "timeout_s: Input should be"),
        ("edit_file", {"path": "a", "old_text": "", "new_text": "x"}, "old_text: String should"),
    ],
)
def test_invalid_input_is_a_tool_failure(name: str, inp: dict[str, object], message: str) -> None:
    tool = default_registry().get(name)
    assert tool is not None
    with pytest.raises(ToolFailed, match=message):
        tool.parse_input(inp)


def test_descriptions_say_what_for_when_not_and_give_examples() -> None:
    # Given the descriptions the model reads (Anthropic's advice on writing tools for agents:
    # what each is for, when not to use it, an example of input)
    described = {d.name: d.description for d in default_registry().definitions()}
    # Then the tools the model uses most give an example and point elsewhere when not to use
    for name in ("read_file", "list_files", "search_code", "edit_file", "run_command"):
        assert "e.g." in described[name], name
        assert "Not for" in described[name], name
    for name in ("query_logs", "get_signal"):
        assert "e.g." in described[name], name
    assert "not when no code change is warranted (finish)" in described["open_pull_request"]
    assert "Not when you have a fix (open_pull_request)" in described["finish"]
    assert "call it again" in described["open_pull_request"]
    # And an invalid input says how to recover
    read = default_registry().get("read_file")
    assert read is not None
    with pytest.raises(ToolFailed, match="Correct the input as the tool's schema describes"):
        read.parse_input({})


def test_code_tools_need_the_sandbox() -> None:
    # Given a context without a workspace (the Run Tool Lambda)
    # When a code tool runs, Then it says where it runs
    with pytest.raises(ToolFailed, match="read_file runs only in the sandbox"):
        _run("read_file", None, path="README.md")


def test_output_cap_says_what_was_cut() -> None:
    text = "".join(f"line {i}\n" for i in range(5000))
    out = cap_output(text, 1000)
    assert len(out) < 1100
    assert out.startswith("line 0")
    assert out.rstrip().endswith("line 4999")
    assert "characters cut: output exceeded 1000" in out


# -- read_file ------------------------------------------------------------------------------


def test_read_file_numbers_lines_of_the_workspace(ws: Workspace) -> None:
    # Given an edit in the workspace
    (ws.root / "app/handler.py").write_text("a\nb\nc\r\nd\n")
    # When a range is read, Then it is the edited content, numbered, with a header
    assert _run("read_file", ws, path="app/handler.py", start_line=2, end_line=3) == (
        "app/handler.py (lines 2-3 of 4)\n    2  b\n    3  c"
    )
    assert _run("read_file", ws, path="README.md") == "README.md (lines 1-1 of 1)\n    1  # svc"


def test_read_file_cuts_long_lines_and_long_files(ws: Workspace) -> None:
    # Given a minified line and a long file
    (ws.root / "min.js").write_text("x" * 5000 + "\n")
    (ws.root / "long.txt").write_text("".join(f"row {i}\n" for i in range(10_000)))
    # Then the line is cut and says so, and the file's output fits the cap and says so
    assert "[... 3000 more characters]" in _run("read_file", ws, path="min.js")
    out = _call("read_file", ws, {"path": "long.txt"}, limit=2_000)
    assert len(out) <= 2_000
    assert "characters cut" in out
    assert out.rstrip().endswith("row 9999")


@pytest.mark.parametrize(
    ("inp", "message"),
    [
        ({"path": "missing.py"}, "missing.py does not exist: find the right path with list_files"),
        ({"path": "app"}, "app is a directory: use list_files"),
        ({"path": "logo.png"}, r"logo.png is a binary file \(6 bytes\)"),
        (
            {"path": "README.md", "start_line": 9},
            "has 1 lines; start_line 9 is past the end: read from a start_line within",
        ),
        ({"path": "README.md", "start_line": 1, "end_line": 0}, "end_line"),
        ({"path": "../src/README.md"}, "outside the workspace"),
        ({"path": ".git/config"}, "inside .git"),
    ],
)
def test_read_file_failures_are_messages_for_the_model(
    shared: Workspace, inp: dict[str, object], message: str
) -> None:
    with pytest.raises(ToolFailed, match=message):
        _call("read_file", shared, inp)


# -- list_files -----------------------------------------------------------------------------


def test_list_files_shows_new_files_not_ignored_ones(ws: Workspace) -> None:
    # Given a new file and an ignored one
    (ws.root / ".gitignore").write_text("*.pyc\n")
    (ws.root / "app/new.py").write_text("")
    (ws.root / "app/old.pyc").write_bytes(b"\0")
    # Then the listing is sorted, filtered by path and glob
    assert _run("list_files", ws).split() == [
        ".gitignore",
        "README.md",
        "app/handler.py",
        "app/new.py",
        "app/util.py",
    ]
    assert _run("list_files", ws, path="app", glob="*.py").split() == [
        "app/handler.py",
        "app/new.py",
        "app/util.py",
    ]
    assert _run("list_files", ws, glob="README*") == "README.md"
    with pytest.raises(ToolFailed, match="no files under 'nowhere'"):
        _run("list_files", ws, path="nowhere")
    with pytest.raises(ToolFailed, match=r"no files under the repository root matching '\*.rs'"):
        _run("list_files", ws, glob="*.rs")


# -- search_code ----------------------------------------------------------------------------


def test_search_code_finds_lines_in_text_files(ws: Workspace) -> None:
    # Given a new file with a long matching line, and a binary file that would match
    (ws.root / "app/long.py").write_text("def long():\n    return '" + "y" * 1000 + "'\n")
    (ws.root / "blob.bin").write_bytes(b"def \0binary")
    # When searching, Then results are file:line:text after a count, lines trimmed
    out = _run("search_code", ws, pattern=r"def \w+")
    lines = out.splitlines()
    assert lines[0] == "3 matches"
    assert lines[1:] == [
        "app/handler.py:1:def handle(event):",
        "app/long.py:1:def long():",
        "app/util.py:1:def ident(x):",
    ]
    trimmed = _run("search_code", ws, pattern="yyy").splitlines()[1]
    assert trimmed == "app/long.py:2:    return '" + "y" * (300 - 12)
    assert _run("search_code", ws, pattern="return", path="app", glob="util.py") == (
        "1 matches\napp/util.py:2:    return x"
    )
    assert _run("search_code", ws, pattern="nothing-like-this") == (
        "no matches for /nothing-like-this/"
    )


def test_search_code_rejects_an_invalid_regex(ws: Workspace) -> None:
    with pytest.raises(ToolFailed, match=r"invalid regular expression /\(/: missing \)"):
        _run("search_code", ws, pattern="(")


# -- edit_file ------------------------------------------------------------------------------


def test_edit_file_replaces_the_one_match_and_reports_lines(ws: Workspace) -> None:
    # Given a file, When one exact piece of it is replaced
    out = _run(
        "edit_file",
        ws,
        path="app/handler.py",
        old_text="    return event['user']['id']\n",
        new_text="    user = event.get('user') or {}\n    return user.get('id')\n",
    )
    # Then the file changed there only, and the answer gives the lines
    assert (ws.root / "app/handler.py").read_text() == (
        "def handle(event):\n    user = event.get('user') or {}\n    return user.get('id')\n"
    )
    assert out == "edited app/handler.py: replaced line 2; the new text is at lines 2-3"


def test_edit_file_keeps_windows_line_ends(ws: Workspace) -> None:
    # Given a file with CRLF line ends
    (ws.root / "win.txt").write_bytes(b"one\r\ntwo\r\nthree\r\n")
    # When the model edits it with plain newlines
    _run("edit_file", ws, path="win.txt", old_text="one\ntwo", new_text="uno\ndos")
    # Then the edit applies and the line ends stay CRLF
    assert (ws.root / "win.txt").read_bytes() == b"uno\r\ndos\r\nthree\r\n"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("return x", "return x", "the same: there is nothing to change"),
        ("x", "y", "old_text matches 2 times in app/util.py; include more context"),
        ("return  y", "return z", "not found in app/util.py; read_file it"),
        (
            "def ident(x):\nreturn x",
            "def ident(x):\n    return None",
            "matches with different whitespace at lines 1-2:\ndef ident\\(x\\):\n    return x\n",
        ),
    ],
)
def test_edit_file_refuses_ambiguous_missing_and_noop_edits(
    ws: Workspace, old: str, new: str, message: str
) -> None:
    # Given app/util.py ("def ident(x):\n    return x\n")
    before = (ws.root / "app/util.py").read_bytes()
    # When the edit is not one exact match, Then it fails with advice and changes nothing
    with pytest.raises(ToolFailed, match=message):
        _run("edit_file", ws, path="app/util.py", old_text=old, new_text=new)
    assert (ws.root / "app/util.py").read_bytes() == before


def test_edit_file_refuses_missing_files(ws: Workspace) -> None:
    with pytest.raises(ToolFailed, match=r"new\.py does not exist"):
        _run("edit_file", ws, path="new.py", old_text="a", new_text="b")


# -- write_file -----------------------------------------------------------------------------


def test_write_file_creates_directories_and_replaces_files(ws: Workspace) -> None:
    # When a new file is written in a new directory, and an existing one is replaced
    created = _run("write_file", ws, path="tests/unit/test_x.py", content="é = 1\n")
    replaced = _run("write_file", ws, path="README.md", content="")
    # Then both are on disk and the answers say what happened
    assert created == "wrote 7 bytes to tests/unit/test_x.py (created)"
    assert replaced == "wrote 0 bytes to README.md (replaced)"
    assert (ws.root / "tests/unit/test_x.py").read_text() == "é = 1\n"
    assert (ws.root / "README.md").read_bytes() == b""


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (".git/hooks/pre-commit", "inside .git"),
        ("../escaped.txt", "outside the workspace"),
        ("/tmp/escaped.txt", "outside the workspace"),
        ("out/escaped.txt", "through a symbolic link"),
        ("app", "app is a directory"),
    ],
)
def test_write_file_stays_in_the_working_tree(shared: Workspace, path: str, message: str) -> None:
    # Given a symbolic link "out" to a directory outside
    outside = shared.root.parent
    # When a write would land outside the working tree or in .git, Then it is refused
    with pytest.raises(ToolFailed, match=message):
        _run("write_file", shared, path=path, content="x")
    assert not (outside / "outside/escaped.txt").exists()
    assert not (outside / "escaped.txt").exists()
    assert not (shared.root / ".git/hooks/pre-commit").exists()


# -- run_command ----------------------------------------------------------------------------


def test_run_command_reports_exit_code_and_merged_output(ws: Workspace) -> None:
    # When a command writes to both streams and fails
    out = _run("run_command", ws, command="echo one; echo two >&2; echo three; exit 3")
    # Then the failure is a normal result: command, exit code, output in order
    assert out == "$ echo one; echo two >&2; echo three; exit 3\nexit code 3\none\ntwo\nthree\n"
    # and a successful one runs from the root
    out = _run("run_command", ws, command="cat README.md")
    assert out == "$ cat README.md\nexit code 0\n# svc\n"


def test_run_command_uses_the_sandbox_interpreter(ws: Workspace) -> None:
    # When python is called by name, Then it is the interpreter running the sandbox
    out = _run("run_command", ws, command="python -c 'import sys; print(sys.prefix)'")
    assert out.splitlines()[-1] == sys.prefix


def test_run_command_environment_has_no_credentials(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a parent process with cloud and fixloop credentials
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret-value")
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/abc")
    monkeypatch.setenv("FIXLOOP_EVENTS_TABLE", "events")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-value")
    monkeypatch.setenv("SOME_TOKEN", "token-value")
    # When a command prints its environment
    out = _run("run_command", ws, command="env")
    names = {line.split("=", 1)[0] for line in out.splitlines()[2:] if "=" in line}
    # Then none of them is there, and HOME is a private directory outside the working tree
    assert not {n for n in names if n.startswith(("AWS_", "FIXLOOP_", "ANTHROPIC_"))}
    for secret in ("aws-secret-value", "/v2/credentials", "sk-ant-value", "token-value"):
        assert secret not in out
    home = next(line.split("=", 1)[1] for line in out.splitlines() if line.startswith("HOME="))
    assert home != os.environ.get("HOME")
    assert not Path(home).is_relative_to(ws.root)
    assert "PYTHONDONTWRITEBYTECODE=1" in out


def test_run_command_timeout_kills_the_whole_process_group(ws: Workspace) -> None:
    # Given a command that starts a child meant to outlive the shell, then blocks
    command = "echo started; sleep 60.0731 & echo $! > child.pid; echo $$ > shell.pid; sleep 30"
    # When it runs with a 1 s limit
    started = time.monotonic()
    with pytest.raises(ToolFailed) as caught:
        _run("run_command", ws, command=command, timeout_s=1)
    elapsed = time.monotonic() - started
    # Then it fails after about a second, with the output so far
    assert elapsed < 3
    assert str(caught.value).startswith("timed out after 1s")
    assert "started" in str(caught.value)
    # and neither the shell nor its child is left running (found by their command lines:
    # the pids they wrote are those of their own PID namespace)
    assert (ws.root / "child.pid").read_text().strip()
    assert (ws.root / "shell.pid").read_text().strip()
    deadline = time.monotonic() + 2
    while processes_with("60.0731") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not processes_with("60.0731")


def test_run_command_background_processes_end_with_the_command(ws: Workspace) -> None:
    # Given a command that leaves a process behind and exits
    out = _run("run_command", ws, command="sleep 60.0732 & echo $! > child.pid; echo done")
    # Then the command's result comes at once, and the leftover is gone
    assert out.endswith("exit code 0\ndone\n")
    assert int((ws.root / "child.pid").read_text()) > 0
    deadline = time.monotonic() + 2
    while processes_with("60.0732") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not processes_with("60.0732")


def test_run_command_caps_large_output(ws: Workspace) -> None:
    # When a command prints 1 MB
    command = "python -c \"print('x' * 1_000_000); print('the end')\""
    out = _call("run_command", ws, {"command": command}, limit=5_000)
    # Then the result fits the cap (so capping it again changes nothing) and says it cut
    assert len(out) <= 5_000
    assert cap_output(out, 5_000) == out
    assert out.startswith("$ python -c")
    assert "exit code 0" in out
    assert "characters cut" in out
    assert out.rstrip().endswith("the end")


def test_run_command_that_cannot_start_is_a_tool_failure(ws: Workspace) -> None:
    # Given a working tree that is gone
    ws.root.rename(ws.root.with_name("moved"))
    # When a command runs, Then it is a tool failure, not a crash
    with pytest.raises(ToolFailed, match="could not start the command"):
        _run("run_command", ws, command="true")


# -- git_diff -------------------------------------------------------------------------------


def test_git_diff_shows_the_investigation_changes(ws: Workspace) -> None:
    # Given a clean workspace, Then there are no changes
    assert _run("git_diff", ws) == "no changes"
    # When files are edited and created through the tools
    _run("edit_file", ws, path="app/util.py", old_text="return x", new_text="return -x")
    _run("write_file", ws, path="app/new.py", content="N = 1\n")
    # Then the diff has both
    diff = _run("git_diff", ws)
    assert "-    return x\n+    return -x" in diff
    assert "+++ b/app/new.py" in diff
