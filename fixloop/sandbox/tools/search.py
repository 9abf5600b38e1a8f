"""Searching the workspace's text files with a regular expression.

Patterns are RE2's (google-re2): matching takes time linear in the text, so a pattern such as
``(a+)+$`` cannot hold the sandbox (Python's ``re`` backtracks exponentially on it, holding
the GIL). RE2 refuses what it cannot match in linear time (backreferences, lookaround) and
the tool says so. The whole search is bounded too, in time, files and bytes read, and says
where it stopped.
"""

from __future__ import annotations

import time
from typing import Protocol, cast

import re2
from pydantic import BaseModel, Field

from fixloop.errors import ToolFailed
from fixloop.sandbox.limits import megabytes
from fixloop.sandbox.tools.context import workspace_of
from fixloop.sandbox.tools.files import lines_of, text_file
from fixloop.tools.registry import Tool, ToolContext, cap_output

__all__ = ["SEARCH_CODE"]

MATCH_LINE_CHARS = 300

MAX_MATCHES = 1_000

MAX_PATTERN_CHARS = 1_000

SEARCH_SECONDS = 20.0
"""A search stops after this long and returns what it found."""

MAX_FILES_SEARCHED = 50_000

MAX_BYTES_SEARCHED = 200_000_000

PATTERN_MEMORY_BYTES = 16 << 20
"""RE2's memory for one compiled pattern (its default is 8 MB)."""


class SearchCodeInput(BaseModel):
    pattern: str = Field(
        min_length=1,
        max_length=MAX_PATTERN_CHARS,
        description="Regular expression in RE2 syntax (like Python's re, without "
        "backreferences or lookaround), searched in each line separately.",
    )
    path: str = Field(default="", description="Only search under this directory or in this file.")
    glob: str = Field(
        default="",
        description='Only search files whose path or name matches this glob, e.g. "*.py".',
    )


def search_code(ctx: ToolContext, args: SearchCodeInput) -> str:
    ws = workspace_of(ctx, "search_code")
    rx = _compile(args.pattern)
    hits: list[str] = []
    deadline = time.monotonic() + SEARCH_SECONDS
    names = ws.files(args.path, args.glob)
    files_read = bytes_read = 0
    stopped = ""
    for name in names:
        if time.monotonic() > deadline:
            stopped = f"it took over {SEARCH_SECONDS:.0f}s"
        elif files_read >= MAX_FILES_SEARCHED:
            stopped = f"{MAX_FILES_SEARCHED} files were read"
        elif bytes_read >= MAX_BYTES_SEARCHED:
            stopped = f"{megabytes(MAX_BYTES_SEARCHED)} were read"
        if stopped:
            stopped = (
                f"search stopped after {files_read} of {len(names)} files because {stopped}; "
                "narrow the path or glob to search the rest"
            )
            break
        data = text_file(ws, name)
        if data is None:
            continue
        files_read += 1
        bytes_read += len(data)
        for n, line in enumerate(lines_of(data.decode("utf-8", "replace")), start=1):
            if rx.search(line):
                hits.append(f"{name}:{n}:{line[:MATCH_LINE_CHARS]}")
                if len(hits) > MAX_MATCHES:
                    head = (
                        f"more than {MAX_MATCHES} matches; the first {MAX_MATCHES} follow "
                        "(narrow the pattern, path or glob)"
                    )
                    return cap_output("\n".join([head, *hits[:MAX_MATCHES]]), ctx.max_output_chars)
    if not hits:
        none = f"no matches for /{args.pattern}/"
        return f"{none} ({stopped})" if stopped else none
    head = f"{len(hits)} matches" + (f" ({stopped})" if stopped else "")
    return cap_output("\n".join([head, *hits]), ctx.max_output_chars)


class _Pattern(Protocol):
    def search(self, text: str) -> object: ...


def _compile(pattern: str) -> _Pattern:
    options = re2.Options()
    options.log_errors = False
    options.max_mem = PATTERN_MEMORY_BYTES
    try:
        return cast(_Pattern, re2.compile(pattern, options))
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise ToolFailed(
            f"invalid regular expression /{pattern}/: {reason} (patterns are RE2 syntax: no "
            "backreferences or lookaround)"
        ) from exc


SEARCH_CODE = Tool(
    "search_code",
    "Search the workspace's text files line by line with a regular expression (RE2 syntax: "
    'like Python\'s re without backreferences or lookaround); results are "file:line:text", '
    "after a count of matches.",
    SearchCodeInput,
    search_code,
    runs_in="sandbox",
)
