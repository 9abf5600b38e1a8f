"""Read-only code tools over the investigated commit of a local git repository.

They read committed content with git (``git show``, ``git ls-tree``, ``git grep``), so they
need no sandbox and cannot modify anything. Tools that edit and run code live in the
sandbox (a later issue) and replace these there.
"""

from __future__ import annotations

import subprocess
from pathlib import PurePosixPath

from pydantic import BaseModel, Field

from fixloop.errors import ToolFailed
from fixloop.tools.registry import Tool, ToolContext, cap_output

GIT_TIMEOUT_S = 30


class ListFilesInput(BaseModel):
    path: str = Field(default="", description="Directory relative to the repository root.")


class ReadFileInput(BaseModel):
    path: str = Field(description="File path relative to the repository root.")
    start_line: int | None = Field(default=None, ge=1)
    end_line: int | None = Field(default=None, ge=1)


class SearchCodeInput(BaseModel):
    pattern: str = Field(description="Extended regular expression (git grep -E).")
    path: str = Field(default="", description="Limit the search to this directory or file.")


def _git(ctx: ToolContext, *args: str, missing_ok: bool = False) -> str:
    """Run git in the repository; exit 1 (no match) is not an error, nor 128 if missing_ok."""
    repo = ctx.investigation.repo
    try:
        proc = subprocess.run(
            ["git", "-C", repo, *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ToolFailed(f"git {args[0]} timed out after {GIT_TIMEOUT_S}s") from exc
    if proc.returncode == 128 and missing_ok:
        return ""
    if proc.returncode not in (0, 1):
        raise ToolFailed(
            proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "git failed"
        )
    return proc.stdout


def _clean(path: str) -> str:
    p = PurePosixPath(path.strip().lstrip("/"))
    if ".." in p.parts:
        raise ToolFailed(f"path {path!r} leaves the repository")
    return "" if str(p) == "." else str(p)


def list_files(ctx: ToolContext, args: ListFilesInput) -> str:
    path = _clean(args.path)
    out = _git(ctx, "ls-tree", "-r", "--name-only", ctx.investigation.commit, "--", path or ".")
    if not out.strip():
        raise ToolFailed(f"no files under {path or 'the repository root'!r}")
    return cap_output(out, ctx.max_output_chars)


def read_file(ctx: ToolContext, args: ReadFileInput) -> str:
    path = _clean(args.path)
    if not path:
        raise ToolFailed("read_file needs a file path")
    kind = _git(ctx, "cat-file", "-t", f"{ctx.investigation.commit}:{path}", missing_ok=True)
    if kind.strip() == "tree":
        raise ToolFailed(f"{path} is a directory: use list_files")
    if kind.strip() != "blob":
        raise ToolFailed(f"{path} is not a file in the repository")
    lines = _git(ctx, "show", f"{ctx.investigation.commit}:{path}").splitlines()
    start = args.start_line or 1
    end = min(args.end_line or len(lines), len(lines))
    if start > max(len(lines), 1):
        raise ToolFailed(f"{path} has {len(lines)} lines; start_line {start} is past the end")
    numbered = "\n".join(f"{n:>5}  {lines[n - 1]}" for n in range(start, end + 1))
    return cap_output(
        f"{path} (lines {start}-{end} of {len(lines)})\n{numbered}", ctx.max_output_chars
    )


def search_code(ctx: ToolContext, args: SearchCodeInput) -> str:
    path = _clean(args.path)
    out = _git(
        ctx,
        "grep",
        "-n",
        "-I",
        "-E",
        "-e",
        args.pattern,
        ctx.investigation.commit,
        "--",
        path or ".",
    )
    prefix = f"{ctx.investigation.commit}:"
    hits = [ln.removeprefix(prefix) for ln in out.splitlines()]
    if not hits:
        return f"no matches for /{args.pattern}/"
    return cap_output(f"{len(hits)} matches\n" + "\n".join(hits), ctx.max_output_chars)


REPOSITORY_TOOLS = [
    Tool(
        "list_files",
        "List the files of the repository at the investigated commit, optionally under a path.",
        ListFilesInput,
        list_files,
    ),
    Tool(
        "read_file",
        "Read a file of the repository at the investigated commit, with line numbers.",
        ReadFileInput,
        read_file,
    ),
    Tool(
        "search_code",
        "Search the repository at the investigated commit with a regular expression; "
        "results are file:line:text.",
        SearchCodeInput,
        search_code,
    ),
]
