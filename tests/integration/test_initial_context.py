"""The first prompt: the signal, the repository overview and the suspect commits, gathered in
the sandbox before turn 1.

The model here is the real Anthropic SDK against the local Messages server, so the test reads
the prompt exactly as it went over the wire.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fixloop.domain import parse_signal
from fixloop.domain.events import ContextGathering, ToolResult
from fixloop.intake import Target, admit, start_investigation
from fixloop.triage import error_fingerprint, parse_error
from tests.fakes.messages import MessagesServer
from tests.integration.scenario import log_of
from tests.runtime import LocalRuntime
from tests.support import (
    alarm_event,
    commit_as,
    head,
    logs_message,
    make_repo,
    messages_api,
    tool_use,
)

TRACEBACK = """Traceback (most recent call last):
  File "/var/runtime/bootstrap.py", line 60, in handle_event_request
  File "/var/task/app/handler.py", line 3, in handle
    return ident(event["user"]["id"])
  File "/var/task/app/util.py", line 2, in ident
    return x.strip()
KeyError: 'user'"""


@pytest.fixture
def messages(runtime: LocalRuntime, monkeypatch: pytest.MonkeyPatch) -> Iterator[MessagesServer]:
    with messages_api(monkeypatch) as server:
        yield server


def _history(tmp_path: Path) -> tuple[Path, str]:
    """A service where Bob's commit introduced the failing handler line."""
    repo = make_repo(
        tmp_path / "svc",
        {
            "app/handler.py": "from app.util import ident\ndef handle(event):\n    return 1\n",
            "app/util.py": "def ident(x):\n    return x\n",
        },
    )
    commit_as(repo, "Alice", "Strip ids", {"app/util.py": "def ident(x):\n    return x.strip()\n"})
    bob = commit_as(
        repo,
        "Bob",
        "Read the user id from the event",
        {
            "app/handler.py": "from app.util import ident\ndef handle(event):\n"
            '    return ident(event["user"]["id"])\n'
        },
    )
    return repo, bob


def _investigate(rt: LocalRuntime, repo: Path, signal: dict[str, Any]) -> str:
    inv = start_investigation(
        parse_signal(signal), repo=str(repo), commit=head(repo), model="anthropic:claude-test"
    )
    ended = rt.watcher.wait(inv.investigation_id, timeout_s=120)
    assert ended.status == "finished", ended.outcome
    return inv.investigation_id


def _first_prompt(server: MessagesServer) -> str:
    first = next(r for r in server.requests if r.path.startswith("/v1/messages"))
    [message] = first.body["messages"]
    assert message["role"] == "user"
    assert all(block["type"] == "text" for block in message["content"])
    return "\n".join(block["text"] for block in message["content"])


def test_the_first_prompt_names_the_commits_that_changed_the_failing_lines(
    runtime: LocalRuntime, messages: MessagesServer, tmp_path: Path
) -> None:
    # Given a traceback through two files whose lines Bob and Alice last changed
    repo, bob = _history(tmp_path)
    messages.enqueue([tool_use("finish", summary="Bob's change reads a missing key.")])
    # When an investigation starts from the log lines
    inv_id = _investigate(runtime, repo, logs_message(["START", *TRACEBACK.splitlines()]))
    # Then the model's very first request holds the signal and the suspect commits, newest
    # first, as plain text (the model made no tool call for them)
    prompt = _first_prompt(messages)
    assert "A production problem was detected." in prompt
    suspects = prompt[prompt.index("Suspect commits") :]
    assert f"{bob[:12]}  " in suspects
    assert "Bob <bob@example.com>  Read the user id from the event" in suspects
    assert suspects.index("Bob <") < suspects.index("Alice <")
    assert "app/handler.py:3 <- /var/task/app/handler.py:3 in handle" in suspects
    # And the log holds the gathering and its result as turn 0, before the first answer
    kinds = [(e.position, e.event.type) for e in log_of(inv_id)]
    assert kinds[:4] == [
        ("t000000.0.context", "context_gathering"),
        ("t000000.0.signal", "signal"),
        ("t000000.2.000", "tool_result"),
        ("t000000.2.001", "tool_result"),
    ]
    gathered = [e.event for e in log_of(inv_id) if isinstance(e.event, ToolResult)]
    assert [(r.turn, r.name, r.is_error) for r in gathered] == [
        (0, "repository_overview", False),
        (0, "suspect_commits", False),
    ]
    [listed] = [e.event for e in log_of(inv_id) if isinstance(e.event, ContextGathering)]
    assert [c["name"] for c in listed.calls] == ["repository_overview", "suspect_commits"]
    assert len(messages.requests) == 1


def test_a_lambda_json_log_line_gets_its_suspect_commits(
    runtime: LocalRuntime, messages: MessagesServer, tmp_path: Path
) -> None:
    # Given the same error logged in Lambda's JSON log format: one line, the frames inside the
    # "stackTrace" list with their quotes escaped
    repo, bob = _history(tmp_path)
    line = json.dumps(
        {
            "timestamp": "2026-11-22T09:20:00Z",
            "level": "ERROR",
            "errorMessage": "'user'",
            "errorType": "KeyError",
            "requestId": "3f1c2a9e-1b2c-4d5e-8f90-123456789abc",
            "stackTrace": [
                '  File "/var/runtime/bootstrap.py", line 60, in handle_event_request\n',
                '  File "/var/task/app/handler.py", line 3, in handle\n'
                '    return ident(event["user"]["id"])\n',
                '  File "/var/task/app/util.py", line 2, in ident\n    return x.strip()\n',
            ],
        }
    )
    messages.enqueue([tool_use("finish", summary="Bob's change reads a missing key.")])
    # When it arrives through intake, as a CloudWatch Logs delivery does
    target = Target(repo=str(repo), commit=head(repo), model="anthropic:claude-test")
    [admission] = admit(parse_signal(logs_message([line])), target)
    ended = runtime.watcher.wait(admission.investigation_id, timeout_s=120)
    assert ended.status == "finished", ended.outcome
    # Then triage fingerprinted it by its frames, and the suspect commits of those very
    # frames open the first prompt
    assert admission.started
    assert admission.fingerprint == error_fingerprint(parse_error(line))
    prompt = _first_prompt(messages)
    suspects = prompt[prompt.index("Suspect commits") :]
    assert f"{bob[:12]}  " in suspects
    assert "app/handler.py:3 <- /var/task/app/handler.py:3 in handle" in suspects
    assert "app/util.py:2 <- /var/task/app/util.py:2 in ident" in suspects
    assert "could not be gathered" not in prompt


def test_an_alarm_without_stack_frames_gets_the_overview_and_no_suspects(
    runtime: LocalRuntime, messages: MessagesServer, tmp_path: Path
) -> None:
    # Given an alarm (no stack trace to blame)
    repo, _ = _history(tmp_path)
    messages.enqueue([tool_use("finish", summary="Nothing to fix.")])
    # When it is investigated
    inv_id = _investigate(runtime, repo, alarm_event())
    # Then only the repository's overview is gathered: no commits to blame, none named
    prompt = _first_prompt(messages)
    assert "Suspect commits" not in prompt
    assert "Repository overview (gathered by fixloop)" in prompt
    assert "Recent commits touching" not in prompt
    gathered = [e.event for e in log_of(inv_id) if isinstance(e.event, ToolResult)]
    assert [(r.turn, r.name, r.is_error) for r in gathered] == [(0, "repository_overview", False)]


def test_the_first_prompt_orients_language_layout_tests_history_and_readme(
    runtime: LocalRuntime, messages: MessagesServer, tmp_path: Path
) -> None:
    # Given a Python service with a pytest configuration, tests and a README, whose failing
    # lines Bob and Alice changed
    repo, bob = _history(tmp_path)
    readme = "# Orders service\n\nTakes orders.\n" + "".join(f"line {i}\n" for i in range(40))
    commit_as(
        repo,
        "Carol",
        "Add tests and a README",
        {
            "README.md": readme,
            "pyproject.toml": "[tool.pytest.ini_options]\ntestpaths = ['tests']\n",
            "tests/test_handler.py": "def test_nothing():\n    pass\n",
        },
    )
    messages.enqueue([tool_use("finish", summary="Oriented.")])
    # When an investigation starts from the traceback
    _investigate(runtime, repo, logs_message(["START", *TRACEBACK.splitlines()]))
    # Then the first prompt says what an engineer looks at first, before the suspect commits
    prompt = _first_prompt(messages)
    overview = prompt[prompt.index("Repository overview") : prompt.index("Suspect commits")]
    assert "Languages: Python (3 files)" in overview
    assert "  app/ (2 files)" in overview and "  tests/ (1 files)" in overview
    assert "Test command: python -m pytest (fixloop verifies a fix with it" in overview
    recent = overview[overview.index("Recent commits touching the files of the stack frames") :]
    assert "(app/handler.py, app/util.py)" in recent
    assert f"{bob[:7]}" in recent and "Bob  Read the user id from the event" in recent
    assert "Alice  Strip ids" in recent and "Carol" not in recent.split("README")[0]
    assert "README.md (first lines):\n# Orders service\n\nTakes orders." in overview
    assert "line 21\n[... 18 more lines: read_file README.md]" in overview
    assert "line 22" not in overview
