"""repository_overview: what an engineer looks at first in a repository they do not know.

A sandbox tool, gathered before the first turn (:mod:`fixloop.agent.context`) so the first
prompt orients the model: the languages (files by extension at the investigated commit), the
top-level layout, the test command fixloop's verification would run
(:func:`fixloop.sandbox.verification.detect.find_test_command`), the recent commits touching
the files of the signal's application frames, and the README's first lines. Everything is
read through git at the base commit (a README that is a symbolic link is shown as its
target's name, never followed) except the test command, which reads the tree's
configuration files the way verification does.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path, PurePosixPath

from pydantic import BaseModel

from fixloop.sandbox.git import Git, last_line
from fixloop.sandbox.tools.context import workspace_of
from fixloop.sandbox.tools.suspects import files_at, match_path
from fixloop.sandbox.verification.detect import SEARCHED, find_test_command
from fixloop.tools.registry import Tool, ToolContext, cap_output
from fixloop.triage import application_frames

__all__ = ["REPOSITORY_OVERVIEW", "language_of"]

README_LINES = 25
TOP_ENTRIES = 30
RECENT_COMMITS = 8
GIT_TIMEOUT_S = 60

LANGUAGES = {
    ".py": "Python",
    ".js": "JavaScript",
    ".mjs": "JavaScript",
    ".cjs": "JavaScript",
    ".jsx": "JavaScript",
    ".ts": "TypeScript",
    ".tsx": "TypeScript",
    ".go": "Go",
    ".java": "Java",
    ".kt": "Kotlin",
    ".rb": "Ruby",
    ".rs": "Rust",
    ".cs": "C#",
    ".php": "PHP",
    ".scala": "Scala",
    ".c": "C",
    ".h": "C",
    ".cpp": "C++",
    ".cc": "C++",
    ".swift": "Swift",
}


class RepositoryOverviewInput(BaseModel):
    pass


def language_of(path: str) -> str | None:
    return LANGUAGES.get(PurePosixPath(path).suffix.lower())


def repository_overview(ctx: ToolContext, args: RepositoryOverviewInput) -> str:
    ws = workspace_of(ctx, "repository_overview")
    git = Git(ws.root)
    files = files_at(git, ws.base_commit)
    sections = [
        f"Repository at {ws.base_commit[:12]}: {len(files):,} files.",
        "Languages: " + _languages(files),
        "Layout (top level):\n" + _layout(files),
        "Test command: " + _test_command(ws.root),
    ]
    frames = application_frames("\n".join(line.message for line in ctx.signal.log_lines))
    framed = sorted({m[0] for f in frames if len(m := match_path(f.source_path, files)) == 1})
    if framed:
        sections.append(
            f"Recent commits touching the files of the stack frames ({', '.join(framed[:8])}):\n"
            + _recent_commits(git, ws.base_commit, framed)
        )
    sections.append(_readme(git, ws.base_commit, files))
    return cap_output("\n\n".join(sections), ctx.max_output_chars)


def _languages(files: list[str]) -> str:
    counts = Counter(lang for f in files if (lang := language_of(f)))
    if not counts:
        return "no source files of a known language"
    return ", ".join(f"{lang} ({n} files)" for lang, n in counts.most_common(5))


def _layout(files: list[str]) -> str:
    tops: Counter[str] = Counter()
    for name in files:
        first, sep, _ = name.partition("/")
        tops[first + "/" if sep else first] += 1
    entries = sorted(tops, key=lambda e: (not e.endswith("/"), e))
    lines = [
        f"  {e} ({tops[e]} files)" if e.endswith("/") else f"  {e}" for e in entries[:TOP_ENTRIES]
    ]
    if len(entries) > TOP_ENTRIES:
        lines.append(f"  ... and {len(entries) - TOP_ENTRIES} more entries")
    return "\n".join(lines)


def _test_command(root: Path) -> str:
    found = find_test_command(root)
    if found is None:
        return (
            f"none found (looked for {SEARCHED}); if the repository has tests, name their "
            "command in open_pull_request's test_command"
        )
    return f"{found.command} (fixloop verifies a fix with it; run it with run_command)"


def _recent_commits(git: Git, base_commit: str, paths: list[str]) -> str:
    proc = git.run(
        [
            "log",
            f"-n{RECENT_COMMITS}",
            "--format=%h  %ad  %an  %s",
            "--date=short",
            base_commit,
            "--",
            *paths,
        ],
        timeout=GIT_TIMEOUT_S,
    )
    if proc.returncode != 0:
        return f"  (git log failed: {last_line(proc.stderr)})"
    lines = proc.stdout.decode("utf-8", "replace").splitlines()
    return "\n".join(f"  {line}" for line in lines) or "  (none)"


def _readme(git: Git, base_commit: str, files: list[str]) -> str:
    readmes = sorted(f for f in files if "/" not in f and f.lower().startswith("readme"))
    if not readmes:
        return "README: none at the top level."
    name = readmes[0]
    proc = git.run(["cat-file", "blob", f"{base_commit}:{name}"], timeout=GIT_TIMEOUT_S)
    if proc.returncode != 0:
        return f"{name}: cannot be read ({last_line(proc.stderr)})."
    lines = proc.stdout.decode("utf-8", "replace").splitlines()
    head = "\n".join(lines[:README_LINES])
    more = f"\n[... {len(lines) - README_LINES} more lines: read_file {name}]"
    return f"{name} (first lines):\n{head}" + (more if len(lines) > README_LINES else "")


REPOSITORY_OVERVIEW = Tool(
    "repository_overview",
    "Summarise the repository at the investigated commit: languages, top-level layout, the "
    "test command fixloop found (the one its verification runs), recent commits touching the "
    "files of the signal's stack frames, and the README's first lines. fixloop already "
    "gathered this into the first message: call it again only after that was compacted away. "
    "Not for reading code: use list_files, read_file and search_code.",
    RepositoryOverviewInput,
    repository_overview,
    runs_in="sandbox",
)
