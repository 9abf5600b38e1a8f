"""Searching the workspace's text files with a regular expression."""

from __future__ import annotations

import re

from pydantic import BaseModel, Field

from fixloop.errors import ToolFailed
from fixloop.sandbox.tools.context import workspace_of
from fixloop.sandbox.tools.files import lines_of, text_file
from fixloop.tools.registry import Tool, ToolContext, cap_output

__all__ = ["SEARCH_CODE"]

MATCH_LINE_CHARS = 300

MAX_MATCHES = 1_000


class SearchCodeInput(BaseModel):
    pattern: str = Field(
        min_length=1,
        description="Python regular expression (re syntax), searched in each line separately.",
    )
    path: str = Field(default="", description="Only search under this directory or in this file.")
    glob: str = Field(
        default="",
        description='Only search files whose path or name matches this glob, e.g. "*.py".',
    )


def search_code(ctx: ToolContext, args: SearchCodeInput) -> str:
    ws = workspace_of(ctx, "search_code")
    try:
        rx = re.compile(args.pattern)
    except re.error as exc:
        raise ToolFailed(f"invalid regular expression /{args.pattern}/: {exc}") from exc
    hits: list[str] = []
    for name in ws.files(args.path, args.glob):
        data = text_file(ws, name)
        if data is None:
            continue
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
        return f"no matches for /{args.pattern}/"
    return cap_output("\n".join([f"{len(hits)} matches", *hits]), ctx.max_output_chars)


SEARCH_CODE = Tool(
    "search_code",
    "Search the workspace's text files line by line with a Python regular expression; "
    'results are "file:line:text", after a count of matches.',
    SearchCodeInput,
    search_code,
    runs_in="sandbox",
)
