"""Searching the workspace's text files with a regular expression.

Patterns are RE2's (google-re2): matching takes time linear in the text, so a pattern such as
``(a+)+$`` cannot hold the sandbox (Python's ``re`` backtracks exponentially on it, holding
the GIL). RE2 refuses what it cannot match in linear time (backreferences, lookaround) and
the tool says so. The whole search is bounded too, in time, files and bytes read, and says
where it stopped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol, cast

import re2
from pydantic import BaseModel, Field

from fixloop.errors import ToolFailed
from fixloop.sandbox.limits import megabytes
from fixloop.sandbox.tools.context import workspace_of
from fixloop.sandbox.tools.files import lines_of, text_file
from fixloop.sandbox.workspace import Workspace
from fixloop.tools.registry import Tool, ToolContext, cap_output

__all__ = ["SEARCH_CODE", "SearchBounds", "search_workspace"]

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


@dataclass(frozen=True)
class SearchBounds:
    seconds: float = SEARCH_SECONDS
    files: int = MAX_FILES_SEARCHED
    bytes: int = MAX_BYTES_SEARCHED
    matches: int = MAX_MATCHES


def search_code(ctx: ToolContext, args: SearchCodeInput) -> str:
    ws = workspace_of(ctx, "search_code")
    return cap_output(
        search_workspace(ws, args.pattern, ws.files(args.path, args.glob)), ctx.max_output_chars
    )


def search_workspace(
    ws: Workspace, pattern: str, names: list[str], bounds: SearchBounds = SearchBounds()
) -> str:
    """Search the files ``names`` of ``ws`` line by line for an RE2 ``pattern``, within
    ``bounds``; the result says where it stopped early."""
    rx = _compile(pattern)
    hits: list[str] = []
    deadline = time.monotonic() + bounds.seconds
    files_read = bytes_read = 0
    why = ""
    for name in names:
        if time.monotonic() > deadline:
            why = f"it took over {bounds.seconds:g}s"
        elif files_read >= bounds.files:
            why = f"{bounds.files} files were read"
        elif bytes_read >= bounds.bytes:
            why = f"{megabytes(bounds.bytes)} were read"
        if why:
            break
        data = text_file(ws, name)
        if data is None:
            continue
        files_read += 1
        bytes_read += len(data)
        for n, line in enumerate(lines_of(data.decode("utf-8", "replace")), start=1):
            if rx.search(line):
                hits.append(f"{name}:{n}:{line[:MATCH_LINE_CHARS]}")
                if len(hits) > bounds.matches:
                    head = (
                        f"more than {bounds.matches} matches; the first {bounds.matches} "
                        "follow (narrow the pattern, path or glob)"
                    )
                    return "\n".join([head, *hits[: bounds.matches]])
    stopped = (
        f" (search stopped after {files_read} of {len(names)} files because {why}; narrow "
        "the path or glob to search the rest)"
        if why
        else ""
    )
    if not hits:
        return f"no matches for /{pattern}/{stopped}"
    return "\n".join([f"{len(hits)} matches{stopped}", *hits])


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
    "after a count of matches. Use it to find where a name is defined or used, or where an "
    'error message comes from, e.g. {"pattern": "def order_total\\\\b"} or '
    '{"pattern": "COUPONS\\\\["}. Escape regex characters in literal text. Not for '
    "reading a file (read_file).",
    SearchCodeInput,
    search_code,
    runs_in="sandbox",
)
