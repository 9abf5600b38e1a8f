"""The code tools: read, list, search, edit, write, run a command, diff, in the workspace.

Each tool is data (name, description, input model) plus one function, and runs only in the
investigation's sandbox, where :class:`~fixloop.tools.registry.ToolContext` carries the
:class:`~fixloop.sandbox.workspace.Workspace`. Paths are relative to the repository root and
go through :meth:`Workspace.resolve`, which keeps every tool inside the working tree and out
of ``.git``. Mutating tools are marked so the sandbox journals them (never applied twice).
"""

from __future__ import annotations

import codecs
import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

from pydantic import BaseModel, Field

from fixloop.errors import ToolFailed
from fixloop.sandbox.workspace import Workspace
from fixloop.tools.registry import Tool, ToolContext, cap_output

MAX_FILE_BYTES = 10_000_000
"""Larger files are not read (read_file refuses, search_code skips them)."""
MAX_LINE_CHARS = 2_000
"""read_file cuts longer lines (minified code) and says how much it cut."""
MATCH_LINE_CHARS = 300
MAX_MATCHES = 1_000
DEFAULT_TIMEOUT_S = 120
MAX_TIMEOUT_S = 1_800
OUTPUT_GRACE_S = 2.0
"""After a command ends, how long to wait for the rest of its output."""
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


class RunCommandInput(BaseModel):
    command: str = Field(
        min_length=1,
        description="A bash command, run from the repository root, e.g. "
        '"python -m pytest -x -q tests/test_pricing.py".',
    )
    timeout_s: int = Field(
        default=DEFAULT_TIMEOUT_S,
        ge=1,
        le=MAX_TIMEOUT_S,
        description="Seconds before the command and every process it started are killed.",
    )


class GitDiffInput(BaseModel):
    pass


def read_file(ctx: ToolContext, args: ReadFileInput) -> str:
    ws = _workspace(ctx, "read_file")
    rel, data = _read(ws, args.path)
    lines = _lines(data.decode("utf-8", "replace"))
    start = args.start_line or 1
    if start > max(len(lines), 1):
        raise ToolFailed(f"{rel} has {len(lines)} lines; start_line {start} is past the end")
    if args.end_line is not None and args.end_line < start:
        raise ToolFailed(f"end_line {args.end_line} is before start_line {start}")
    if not lines:
        return f"{rel} (empty file)"
    end = min(args.end_line or len(lines), len(lines))
    numbered = "\n".join(f"{n:>5}  {_cut_line(lines[n - 1])}" for n in range(start, end + 1))
    return cap_output(
        f"{rel} (lines {start}-{end} of {len(lines)})\n{numbered}", ctx.max_output_chars
    )


def list_files(ctx: ToolContext, args: ListFilesInput) -> str:
    ws = _workspace(ctx, "list_files")
    names = ws.files(args.path, args.glob)
    if not names:
        where = repr(args.path.strip()) if args.path.strip() else "the repository root"
        matching = f" matching {args.glob!r}" if args.glob else ""
        raise ToolFailed(f"no files under {where}{matching}")
    return cap_output("\n".join(names), ctx.max_output_chars)


def search_code(ctx: ToolContext, args: SearchCodeInput) -> str:
    ws = _workspace(ctx, "search_code")
    try:
        rx = re.compile(args.pattern)
    except re.error as exc:
        raise ToolFailed(f"invalid regular expression /{args.pattern}/: {exc}") from exc
    hits: list[str] = []
    for name in ws.files(args.path, args.glob):
        data = _searchable(ws, name)
        if data is None:
            continue
        for n, line in enumerate(_lines(data.decode("utf-8", "replace")), start=1):
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


def edit_file(ctx: ToolContext, args: EditFileInput) -> str:
    ws = _workspace(ctx, "edit_file")
    if args.old_text == args.new_text:
        raise ToolFailed("old_text and new_text are the same: there is nothing to change")
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
    ws = _workspace(ctx, "write_file")
    full = ws.resolve(args.path)
    rel = ws.relative(full)
    if full == ws.root or full.is_dir():
        raise ToolFailed(f"{rel} is a directory")
    try:
        data = args.content.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ToolFailed(f"content cannot be written as UTF-8: {exc}") from exc
    existed = full.exists()
    try:
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_bytes(data)
    except OSError as exc:
        raise ToolFailed(f"cannot write {rel}: {exc.strerror or exc}") from exc
    return f"wrote {len(data)} bytes to {rel} ({'replaced' if existed else 'created'})"


def run_command(ctx: ToolContext, args: RunCommandInput) -> str:
    ws = _workspace(ctx, "run_command")
    output = _Output(keep=max(4 * ctx.max_output_chars, 1_000_000))
    try:
        proc = subprocess.Popen(
            ["bash", "-c", args.command],
            cwd=ws.root,
            env=command_env(ws.home),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, killed as a whole
        )
    except OSError as exc:
        raise ToolFailed(f"could not start the command: {exc}") from exc
    assert proc.stdout is not None
    reader = threading.Thread(target=output.drain, args=(proc.stdout,), daemon=True)
    reader.start()
    timed_out = False
    try:
        proc.wait(timeout=args.timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        # Nothing outlives the command: not on a timeout, not a background process it left.
        _kill_group(proc.pid)
        proc.wait()
    reader.join(timeout=OUTPUT_GRACE_S)
    if not reader.is_alive():
        proc.stdout.close()
    text, total, dropped = output.result()
    note = f" ({total} characters of output; the middle was not kept)" if dropped else ""
    if timed_out:
        raise ToolFailed(
            cap_output(
                f"timed out after {args.timeout_s}s; the command and every process it started "
                f"were killed{note}. Output so far:\n{text}",
                ctx.max_output_chars,
            )
        )
    return cap_output(
        f"$ {args.command}\nexit code {proc.returncode}{note}\n{text}", ctx.max_output_chars
    )


def git_diff(ctx: ToolContext, _: GitDiffInput) -> str:
    ws = _workspace(ctx, "git_diff")
    return cap_output(ws.diff() or "no changes", ctx.max_output_chars)


def command_env(home: Path) -> dict[str, str]:
    """The whole environment of a command: nothing inherited but PATH.

    Credentials never reach a command: no AWS_*, FIXLOOP_* or ANTHROPIC_* variables, and
    without AWS_CONTAINER_CREDENTIALS_RELATIVE_URI nothing finds a Fargate task's role. The
    interpreter running the sandbox comes first on PATH, so ``python`` and ``pytest`` are its.
    """
    inherited = os.environ.get("PATH") or os.defpath
    return {
        "PATH": os.pathsep.join([os.path.dirname(sys.executable), inherited]),
        "HOME": str(home),
        "TMPDIR": str(home / "tmp"),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


SANDBOX_TOOLS: list[Tool] = [
    Tool(
        "read_file",
        "Read a file of the workspace (the repository at the investigated commit plus your "
        "edits), with line numbers. Use start_line and end_line for parts of long files.",
        ReadFileInput,
        read_file,
        runs_in="sandbox",
    ),
    Tool(
        "list_files",
        "List the files of the workspace (tracked and new, not git-ignored), optionally under a "
        "path and matching a glob.",
        ListFilesInput,
        list_files,
        runs_in="sandbox",
    ),
    Tool(
        "search_code",
        "Search the workspace's text files line by line with a Python regular expression; "
        'results are "file:line:text", after a count of matches.',
        SearchCodeInput,
        search_code,
        runs_in="sandbox",
    ),
    Tool(
        "edit_file",
        "Replace one exact occurrence of old_text with new_text in a file of the workspace. "
        "Read the file first; old_text must match exactly once, whitespace included.",
        EditFileInput,
        edit_file,
        runs_in="sandbox",
        mutating=True,
    ),
    Tool(
        "write_file",
        "Create a file in the workspace, or replace a file's whole content. Prefer edit_file "
        "for changes to an existing file.",
        WriteFileInput,
        write_file,
        runs_in="sandbox",
        mutating=True,
    ),
    Tool(
        "run_command",
        "Run a bash command from the repository root, e.g. the test suite; returns its exit "
        "code and its output (stdout and stderr together, long output cut in the middle). "
        "Each call is a fresh shell with a minimal environment and no cloud credentials; "
        "processes it starts in the background are killed when it ends. A non-zero exit code "
        "is a normal result.",
        RunCommandInput,
        run_command,
        runs_in="sandbox",
        mutating=True,
    ),
    Tool(
        "git_diff",
        "Show every change made in the workspace so far (edits, new and deleted files) as a "
        "unified diff against the investigated commit.",
        GitDiffInput,
        git_diff,
        runs_in="sandbox",
    ),
]


# -- helpers ------------------------------------------------------------------------------


def _workspace(ctx: ToolContext, tool: str) -> Workspace:
    if ctx.workspace is None:
        raise ToolFailed(f"{tool} runs only in the sandbox, which this call did not reach")
    return ctx.workspace


def _read(ws: Workspace, path: str) -> tuple[str, bytes]:
    """The relative path and bytes of a text file; ToolFailed for anything else."""
    full = ws.resolve(path)
    rel = ws.relative(full)
    if full.is_dir():
        raise ToolFailed(f"{rel} is a directory: use list_files")
    if not full.exists():
        raise ToolFailed(f"{rel} does not exist")
    if not full.is_file():
        raise ToolFailed(f"{rel} is not a regular file")
    size = full.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ToolFailed(
            f"{rel} is {size} bytes, too large to read whole: use run_command (head, sed -n)"
        )
    data = full.read_bytes()
    if _is_binary(data):
        raise ToolFailed(f"{rel} is a binary file ({size} bytes)")
    return rel, data


def _searchable(ws: Workspace, name: str) -> bytes | None:
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


def _lines(text: str) -> list[str]:
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


def _kill_group(pgid: int) -> None:
    # ESRCH: the group is gone; EPERM: only zombies are left in it.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


class _Output:
    """A command's output as it arrives, holding at most about 3 x ``keep`` characters:
    the first ``keep`` and the latest ones; the total is counted."""

    def __init__(self, keep: int) -> None:
        self._keep = keep
        self._lock = threading.Lock()
        self._head: list[str] = []
        self._head_len = 0
        self._tail: list[str] = []
        self._tail_len = 0
        self._total = 0

    def drain(self, stream: IO[bytes]) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        read = getattr(stream, "read1", stream.read)
        try:
            while chunk := read(65_536):
                self._add(decoder.decode(chunk))
        except (OSError, ValueError):
            pass  # the pipe was closed under us
        self._add(decoder.decode(b"", final=True))

    def _add(self, text: str) -> None:
        if not text:
            return
        with self._lock:
            self._total += len(text)
            room = self._keep - self._head_len
            if room > 0:
                self._head.append(text[:room])
                self._head_len += len(self._head[-1])
                text = text[room:]
            if text:
                self._tail.append(text)
                self._tail_len += len(text)
                if self._tail_len > 2 * self._keep:
                    kept = "".join(self._tail)[-self._keep :]
                    self._tail, self._tail_len = [kept], len(kept)

    def result(self) -> tuple[str, int, int]:
        """The kept text, the total number of characters, and how many were dropped."""
        with self._lock:
            text = "".join(self._head) + "".join(self._tail)
            return text, self._total, self._total - len(text)
