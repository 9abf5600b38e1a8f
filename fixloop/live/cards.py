"""Tool calls and their results as the live view shows them: one card per call, by kind.

A call's card comes from its ``tool_use`` block (:func:`call_card`), its result's from the
:class:`~fixloop.domain.events.ToolResult` (:func:`result_card`), so each is built from one
event as it arrives. The code tools answer in text made for the model: ``read_file`` numbers
its lines under a header, ``run_command`` starts with ``$ command`` and ``exit code N``,
``search_code`` lists ``file:line:text``, ``edit_file`` says which lines it replaced. This
module reads those answers back into fields once, so the page renders fields instead of
parsing text; ``tests/unit/test_live_cards.py`` runs the real tools and checks every format
read here, so a change of one is caught there. An answer that does not parse is shown as text.
"""

from __future__ import annotations

import difflib
import json
import re
from typing import Any, Final

from fixloop.domain.events import ContentBlock, ToolResult

__all__ = ["KIND_OF", "call_card", "diff_lines", "result_card"]

KIND_OF: Final[dict[str, str]] = {
    "read_file": "read",
    "list_files": "list",
    "search_code": "search",
    "edit_file": "edit",
    "write_file": "write",
    "run_command": "command",
    "git_diff": "diff",
    "ask_human": "question",
    "open_pull_request": "pull_request",
    "finish": "finish",
    "get_signal": "signal",
    "query_logs": "telemetry",
    "get_metric_statistics": "telemetry",
    "get_trace_summaries": "telemetry",
    "get_trace": "telemetry",
    "recent_deployments": "telemetry",
    "suspect_commits": "history",
}
"""How each tool's card is drawn; a tool not named here gets the ``other`` card (its inputs
as fields, its answer as text)."""

_TITLES: Final[dict[str, str]] = {
    "list_files": "List files",
    "git_diff": "Review the changes",
    "get_signal": "Read the signal",
    "open_pull_request": "Open a pull request",
    "finish": "Conclude",
    "ask_human": "Ask a person",
    "query_logs": "Query logs",
    "get_metric_statistics": "Read metrics",
    "get_trace_summaries": "List traces",
    "get_trace": "Read a trace",
    "recent_deployments": "List recent deployments",
    "suspect_commits": "Find the commits behind the stack frames",
}
MAX_FIELD_CHARS = 2_000
"""An input value shown in a card is cut to this many characters (the raw event has all)."""

_READ_HEADER = re.compile(
    r"^(?P<path>.+) \(lines (?P<first>\d+)-(?P<last>\d+) of (?P<total>\d+)\)$"
)
_READ_EMPTY = re.compile(r"^(?P<path>.+) \(empty file\)$")
_NUMBERED = re.compile(r"^ *(?P<n>\d+)  (?P<text>.*)$")
_EXIT = re.compile(r"\nexit code (?P<code>-?\d+)(?P<note> \([^\n]*\))?(?:\n|$)")
_MATCH = re.compile(r"^(?P<path>[^\n:]+):(?P<line>\d+):(?P<text>.*)$")
_EDITED = re.compile(
    r"^edited (?P<path>.+?): (?:replaced lines? (?P<old>\d+)(?:-\d+)?; the new text is at "
    r"lines? (?P<new>\d+)(?:-\d+)?|deleted text at lines? (?P<deleted>\d+)(?:-\d+)?)$"
)
_WROTE = re.compile(r"^wrote (?P<bytes>\d+) bytes to (?P<path>.+) \((?P<how>created|replaced)\)$")


def call_card(block: ContentBlock) -> dict[str, Any]:
    """A ``tool_use`` block as a card: its kind, a title, and the inputs that kind shows."""
    name = str(block.get("name", ""))
    raw = block.get("input")
    inp: dict[str, Any] = raw if isinstance(raw, dict) else {}
    kind = KIND_OF.get(name, "other")
    card: dict[str, Any] = {
        "type": "tool_call",
        "id": str(block.get("id", "")),
        "name": name,
        "kind": kind,
        "title": _title(name, kind, inp),
    }
    if kind in ("read", "list", "search", "edit", "write"):
        card["path"] = _text(inp.get("path"))
    if kind == "read":
        card["start_line"] = inp.get("start_line")
        card["end_line"] = inp.get("end_line")
    elif kind in ("list", "search"):
        card["glob"] = _text(inp.get("glob"))
        if kind == "search":
            card["pattern"] = _text(inp.get("pattern"))
    elif kind == "edit":
        card["lines"] = diff_lines(_text(inp.get("old_text")), _text(inp.get("new_text")))
    elif kind == "write":
        card["content"] = _text(inp.get("content"))
    elif kind == "command":
        card["command"] = _text(inp.get("command"))
        card["timeout_s"] = inp.get("timeout_s")
    elif kind == "question":
        card["question"] = _text(inp.get("question"))
        card["options"] = [_text(o) for o in inp.get("options") or []]
    elif kind == "pull_request":
        card["pr_title"] = _text(inp.get("title"))
        card["body"] = _text(inp.get("body"))
    elif kind == "finish":
        card["summary"] = _text(inp.get("summary"))
    else:
        card["fields"] = [{"name": k, "value": _field(v)} for k, v in inp.items()]
    return card


def result_card(ev: ToolResult) -> dict[str, Any]:
    """A tool's answer as the fields its card shows (``kind`` ``text``: show the content)."""
    card: dict[str, Any] = {
        "tool_use_id": ev.tool_use_id,
        "name": ev.name,
        "ok": not ev.is_error,
        "duration_ms": ev.duration_ms,
        "by_fixloop": ev.by_fixloop,
    }
    if ev.is_error or ev.by_fixloop:
        return card | {"kind": "text"}
    parsed = _PARSERS.get(ev.name, _as_text)(ev.content)
    return card | parsed


def diff_lines(old: str, new: str) -> list[dict[str, str]]:
    """An edit as lines: ``op`` is ``" "`` (kept), ``"-"`` (removed) or ``"+"`` (added)."""
    a, b = old.split("\n"), new.split("\n")
    if not new:
        b = []
    out: list[dict[str, str]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            out.extend({"op": " ", "text": line} for line in a[i1:i2])
            continue
        out.extend({"op": "-", "text": line} for line in a[i1:i2])
        out.extend({"op": "+", "text": line} for line in b[j1:j2])
    return out


def _title(name: str, kind: str, inp: dict[str, Any]) -> str:
    path = _text(inp.get("path"))
    if kind == "read":
        start, end = inp.get("start_line"), inp.get("end_line")
        if start or end:
            return f"Read {path}, lines {start or 1}–{end or 'end'}"
        return f"Read {path}"
    if kind == "search":
        where = f" in {path}" if path else ""
        return f"Search for {_text(inp.get('pattern'))}{where}"
    if kind == "edit":
        return f"Edit {path}"
    if kind == "write":
        return f"Write {path}"
    if kind == "command":
        return "Run a command"
    if kind == "list" and path:
        return f"List files under {path}"
    return _TITLES.get(name) or name.replace("_", " ").capitalize()


def _text(value: object) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _field(value: object) -> str:
    """An input value as a person reads it: text as is, a mapping as ``k=v`` pairs, a list
    comma separated; anything deeper as compact JSON."""
    if isinstance(value, str):
        shown = value
    elif isinstance(value, dict) and all(not isinstance(v, dict | list) for v in value.values()):
        shown = ", ".join(f"{k}={v}" for k, v in value.items())
    elif isinstance(value, list) and all(not isinstance(v, dict | list) for v in value):
        shown = ", ".join(str(v) for v in value)
    else:
        shown = json.dumps(value, ensure_ascii=False)
    return shown if len(shown) <= MAX_FIELD_CHARS else shown[:MAX_FIELD_CHARS] + " …"


def _as_text(_content: str) -> dict[str, Any]:
    return {"kind": "text"}


def _read(content: str) -> dict[str, Any]:
    header, _, body = content.partition("\n")
    if empty := _READ_EMPTY.match(header):
        return {"kind": "read", "path": empty["path"], "numbers": [], "code": "", "total_lines": 0}
    top = _READ_HEADER.match(header)
    if top is None:
        return _as_text(content)
    numbers: list[int | None] = []
    code: list[str] = []
    for line in body.split("\n"):
        numbered = _NUMBERED.match(line)
        if numbered:
            numbers.append(int(numbered["n"]))
            code.append(numbered["text"])
        elif line:  # the note of a cut (cap_output) or of a long line
            numbers.append(None)
            code.append(line)
    return {
        "kind": "read",
        "path": top["path"],
        "first_line": int(top["first"]),
        "last_line": int(top["last"]),
        "total_lines": int(top["total"]),
        "numbers": numbers,
        "code": "\n".join(code),
    }


def _list(content: str) -> dict[str, Any]:
    return {"kind": "list", "files": [line for line in content.split("\n") if line]}


def _search(content: str) -> dict[str, Any]:
    head, _, rest = content.partition("\n")
    if head.startswith("no matches for "):
        return {"kind": "search", "summary": head, "matches": []}
    matches: list[dict[str, Any]] = []
    for line in rest.split("\n"):
        if found := _MATCH.match(line):
            matches.append(
                {"path": found["path"], "line": int(found["line"]), "text": found["text"]}
            )
    if not matches and rest.strip():
        return _as_text(content)
    return {"kind": "search", "summary": head, "matches": matches}


def _command(content: str) -> dict[str, Any]:
    if not content.startswith("$ "):
        return _as_text(content)
    found = _EXIT.search(content)
    if found is None:
        return _as_text(content)
    return {
        "kind": "command",
        "command": content[2 : found.start()],
        "exit_code": int(found["code"]),
        "note": (found["note"] or "").strip(" ()"),
        "output": content[found.end() :],
    }


def _edit(content: str) -> dict[str, Any]:
    found = _EDITED.match(content.strip())
    if found is None:
        return _as_text(content)
    old = found["old"] or found["deleted"]
    return {
        "kind": "edit",
        "path": found["path"],
        "old_start": int(old),
        "new_start": int(found["new"] or old),
        "message": content.strip(),
    }


def _write(content: str) -> dict[str, Any]:
    found = _WROTE.match(content.strip())
    if found is None:
        return _as_text(content)
    return {
        "kind": "write",
        "path": found["path"],
        "created": found["how"] == "created",
        "message": content.strip(),
    }


def _diff(content: str) -> dict[str, Any]:
    return {"kind": "diff", "diff": "" if content.strip() == "no changes" else content}


_PARSERS = {
    "read_file": _read,
    "list_files": _list,
    "search_code": _search,
    "run_command": _command,
    "edit_file": _edit,
    "write_file": _write,
    "git_diff": _diff,
}
