"""Reading and changing files of the workspace: read, list, edit, write, diff.

Paths are relative to the repository root and go through :meth:`Workspace.resolve`, which
keeps every tool inside the working tree and out of ``.git``.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, Field

from fixloop.errors import ToolFailed
from fixloop.sandbox.limits import MAX_WRITE_BYTES, SNAPSHOT_TEXT_FILE_BYTES, megabytes
from fixloop.sandbox.tools.context import workspace_of
from fixloop.sandbox.workspace import Workspace
from fixloop.tools.registry import Tool, ToolContext, cap_output

__all__ = [
    "EDIT_FILE",
    "GIT_DIFF",
    "LIST_FILES",
    "READ_FILE",
    "WRITE_FILE",
    "lines_of",
    "text_file",
]

MAX_FILE_BYTES = 10_000_000
"""Larger files are not read (read_file refuses, search_code skips them)."""

MAX_LINE_CHARS = 2_000
"""read_file cuts longer lines (minified code) and says how much it cut."""

BINARY_SNIFF_BYTES = 8_000
"""Like git: a NUL byte in the first 8,000 bytes makes a file binary."""


class ReadFileInput(BaseModel):
    path: str = Field(description="File path relative to the repository root.")
    start_line: int | None = Field(
        default=None, ge=1, description="First line to show (1-based). Default: 1."
    )
    end_line: int | None = Field(
        default=None, ge=1, description="Last line to show (inclusive). Default: the last line."
    )


class ListFilesInput(BaseModel):
    path: str = Field(
        default="",
        description="Directory (or file) to list, relative to the repository root. "
        "Default: the whole repository.",
    )
    glob: str = Field(
        default="",
        description='Only files whose relative path or file name matches this glob, e.g. "*.py" '
        'or "tests/test_*.py".',
    )


class EditFileInput(BaseModel):
    path: str = Field(description="File to edit, relative to the repository root.")
    old_text: str = Field(
        min_length=1,
        description="The exact text to replace, indentation and line breaks included. It must "
        "occur exactly once in the file: include neighbouring lines to make it unique.",
    )
    new_text: str = Field(description="The text to put in its place; empty to delete old_text.")


class WriteFileInput(BaseModel):
    path: str = Field(
        description="File to create or overwrite, relative to the repository root; missing "
        "directories are created."
    )
    content: str = Field(description="The complete new content of the file.")


class GitDiffInput(BaseModel):
    pass


def read_file(ctx: ToolContext, args: ReadFileInput) -> str:
    ws = workspace_of(ctx, "read_file")
    rel, data = _read(ws, args.path)
    lines = lines_of(data.decode("utf-8", "replace"))
    start = args.start_line or 1
    if start > max(len(lines), 1):
        raise ToolFailed(
            f"{rel} has {len(lines)} lines; start_line {start} is past the end: read from a "
            "start_line within the file, or without start_line"
        )
    if args.end_line is not None and args.end_line < start:
        raise ToolFailed(
            f"end_line {args.end_line} is before start_line {start}: give end_line >= "
            "start_line, or leave it out to read to the end"
        )
    if not lines:
        return f"{rel} (empty file)"
    end = min(args.end_line or len(lines), len(lines))
    numbered = "\n".join(f"{n:>5}  {_cut_line(lines[n - 1])}" for n in range(start, end + 1))
    return cap_output(
        f"{rel} (lines {start}-{end} of {len(lines)})\n{numbered}", ctx.max_output_chars
    )


def list_files(ctx: ToolContext, args: ListFilesInput) -> str:
    ws = workspace_of(ctx, "list_files")
    names = ws.files(args.path, args.glob)
    if not names:
        where = repr(args.path.strip()) if args.path.strip() else "the repository root"
        matching = f" matching {args.glob!r}" if args.glob else ""
        raise ToolFailed(
            f"no files under {where}{matching}: list a parent folder (or the root, path "
            '""), or a wider glob such as "**/*.py"'
        )
    return cap_output("\n".join(names), ctx.max_output_chars)


def edit_file(ctx: ToolContext, args: EditFileInput) -> str:
    ws = workspace_of(ctx, "edit_file")
    if args.old_text == args.new_text:
        raise ToolFailed("old_text and new_text are the same: there is nothing to change")
    _within_write_cap("new_text", len(args.new_text.encode("utf-8", "surrogatepass")))
    rel, data = _read(ws, args.path)
    text = data.decode("utf-8", "surrogateescape")  # bytes that are not UTF-8 stay as they are
    old, new = args.old_text, args.new_text
    count = text.count(old)
    if count == 0 and "\r\n" in text and "\r" not in old:
        # A file with Windows line ends, and the model wrote plain newlines.
        old, new = _crlf(old), _crlf(new)
        count = text.count(old)
    if count == 0:
        raise ToolFailed(_not_found(rel, text, args.old_text))
    if count > 1:
        raise ToolFailed(
            f"old_text matches {count} times in {rel}; include more context so it matches once"
        )
    at = text.index(old)
    try:
        updated = (text[:at] + new + text[at + len(old) :]).encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as exc:
        raise ToolFailed(f"new_text cannot be written as UTF-8: {exc}") from exc
    if len(updated) > max(len(data), SNAPSHOT_TEXT_FILE_BYTES):
        raise ToolFailed(
            f"the edit would make {rel} {megabytes(len(updated))}, larger than a file of the "
            f"change may be ({megabytes(SNAPSHOT_TEXT_FILE_BYTES)}): nothing was changed"
        )
    ws.resolve(args.path).write_bytes(updated)
    first = text.count("\n", 0, at) + 1
    replaced = _line_range(first, first + _span(old) - 1)
    if not new:
        return f"edited {rel}: deleted text at {replaced}"
    return (
        f"edited {rel}: replaced {replaced}; "
        f"the new text is at {_line_range(first, first + _span(new) - 1)}"
    )


def write_file(ctx: ToolContext, args: WriteFileInput) -> str:
    ws = workspace_of(ctx, "write_file")
    full = ws.resolve(args.path)
    rel = ws.relative(full)
    if full == ws.root or full.is_dir():
        raise ToolFailed(f"{rel} is a directory")
    try:
        data = args.content.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ToolFailed(f"content cannot be written as UTF-8: {exc}") from exc
    _within_write_cap("content", len(data))
    existed = full.exists()
    try:
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_bytes(data)
    except OSError as exc:
        raise ToolFailed(f"cannot write {rel}: {exc.strerror or exc}") from exc
    return f"wrote {len(data)} bytes to {rel} ({'replaced' if existed else 'created'})"


def git_diff(ctx: ToolContext, _: GitDiffInput) -> str:
    ws = workspace_of(ctx, "git_diff")
    return cap_output(ws.diff() or "no changes", ctx.max_output_chars)


READ_FILE = Tool(
    "read_file",
    "Read a text file of the workspace (the repository at the investigated commit plus your "
    "edits), with line numbers: the code of a stack frame, a test, a configuration. Use "
    'start_line and end_line for parts of long files, e.g. {"path": "app/handler.py", '
    '"start_line": 40, "end_line": 90} around a frame\'s line 62. Paths are relative to '
    "the repository root. Not for finding where something is defined or used (search_code) "
    "or what files exist (list_files).",
    ReadFileInput,
    read_file,
    runs_in="sandbox",
)

LIST_FILES = Tool(
    "list_files",
    "List the files of the workspace (tracked and new, not git-ignored), optionally under a "
    'path and matching a glob, e.g. {"path": "src", "glob": "**/*.py"} or '
    '{"glob": "**/test_*.py"} to find the tests. Not for file contents (read_file, '
    "search_code).",
    ListFilesInput,
    list_files,
    runs_in="sandbox",
)

EDIT_FILE = Tool(
    "edit_file",
    "Replace one exact occurrence of old_text with new_text in a file of the workspace: "
    "the way to change existing code. Read the file first; old_text must match exactly once, "
    "whitespace and indentation included (copy it from read_file's output without the line "
    'numbers), e.g. {"path": "app/cart.py", "old_text": "    rate = RATES[code]", '
    '"new_text": "    rate = RATES.get(code)"}. Include a few surrounding lines when '
    "the text occurs more than once. Empty new_text deletes. Not for new files (write_file).",
    EditFileInput,
    edit_file,
    runs_in="sandbox",
    mutating=True,
)

WRITE_FILE = Tool(
    "write_file",
    "Create a file in the workspace (e.g. a new test module, in the folder and naming the "
    "repository's tests use), or replace a file's whole content; folders are created as "
    "needed. Prefer edit_file for changes to an existing file: rewriting it whole risks "
    "losing lines.",
    WriteFileInput,
    write_file,
    runs_in="sandbox",
    mutating=True,
)

GIT_DIFF = Tool(
    "git_diff",
    "Show every change made in the workspace so far (edits, new and deleted files) as a "
    "unified diff against the investigated commit: review it before open_pull_request, "
    "which delivers exactly this change (remove stray files first).",
    GitDiffInput,
    git_diff,
    runs_in="sandbox",
)


def _within_write_cap(what: str, size: int) -> None:
    if size > MAX_WRITE_BYTES:
        raise ToolFailed(
            f"{what} is {megabytes(size)}, over the {megabytes(MAX_WRITE_BYTES)} limit: nothing "
            "was written. Files that large rarely belong in a fix; if a test needs one, "
            "generate it with run_command"
        )


def _read(ws: Workspace, path: str) -> tuple[str, bytes]:
    """The relative path and bytes of a text file; ToolFailed for anything else."""
    full = ws.resolve(path)
    rel = ws.relative(full)
    if full.is_dir():
        raise ToolFailed(f"{rel} is a directory: use list_files")
    if not full.exists():
        raise ToolFailed(
            f"{rel} does not exist: find the right path with list_files (glob "
            '"**/NAME") or search_code; create a new file with write_file'
        )
    if not full.is_file():
        raise ToolFailed(f"{rel} is not a regular file")
    size = full.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ToolFailed(
            f"{rel} is {size} bytes, too large to read whole: use run_command (head, sed -n)"
        )
    data = full.read_bytes()
    if _is_binary(data):
        raise ToolFailed(
            f"{rel} is a binary file ({size} bytes): inspect it with run_command (file, "
            "xxd | head) if it matters"
        )
    return rel, data


def text_file(ws: Workspace, name: str) -> bytes | None:
    """The bytes of a listed file if search_code should look at it."""
    try:
        full = ws.resolve(name)  # a committed symbolic link may lead outside
    except ToolFailed:
        return None
    if not full.is_file() or full.stat().st_size > MAX_FILE_BYTES:
        return None
    data = full.read_bytes()
    return None if _is_binary(data) else data


def _is_binary(data: bytes) -> bool:
    return b"\0" in data[:BINARY_SNIFF_BYTES]


def lines_of(text: str) -> list[str]:
    """Lines as editors number them: split on newlines only, without line ends."""
    if not text:
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def _cut_line(line: str) -> str:
    if len(line) <= MAX_LINE_CHARS:
        return line
    return f"{line[:MAX_LINE_CHARS]} [... {len(line) - MAX_LINE_CHARS} more characters]"


def _span(text: str) -> int:
    """How many lines a non-empty piece of text touches."""
    return max(1, text.count("\n") + (0 if text.endswith("\n") else 1))


def _line_range(first: int, last: int) -> str:
    return f"line {first}" if first == last else f"lines {first}-{last}"


def _crlf(text: str) -> str:
    return re.sub(r"(?<!\r)\n", "\r\n", text)


def _not_found(rel: str, text: str, old: str) -> str:
    tokens = old.split()
    if tokens:
        loose = re.compile(r"\s*".join(re.escape(t) for t in tokens))
        found = loose.search(text)
        if found:
            first = text.count("\n", 0, found.start()) + 1
            last = first + text.count("\n", found.start(), found.end())
            start = text.rfind("\n", 0, found.start()) + 1
            end = text.find("\n", found.end())
            snippet = text[start : end if end != -1 else len(text)]
            if len(snippet) > 2_000:
                snippet = snippet[:2_000] + " [...]"
            return (
                f"old_text was not found in {rel} exactly, but it matches with different "
                f"whitespace at lines {first}-{last}:\n{snippet}\n"
                "Copy old_text from these lines exactly, indentation and line breaks included."
            )
    return (
        f"old_text was not found in {rel}; read_file it to see its current text "
        "(old_text must match exactly, indentation included)"
    )
