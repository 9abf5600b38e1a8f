"""suspect_commits: the commits that last changed the lines of the signal's stack traces.

A sandbox tool (it needs the workspace's git history). It reads the application frames of
the signal's log lines with triage's parser (:func:`fixloop.triage.application_frames`: the
same reading that fingerprinted the signal, JSON logs included, library and runtime frames
left out), maps each frame's path, as the container saw it (``/var/task/app/handler.py``; for
Java the class's package path), to a file of the repository by suffix, and runs ``git blame``
on that line at the investigated commit. The result is one entry per commit, newest first,
with the frames it explains.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath

from pydantic import BaseModel, Field

from fixloop.errors import ToolFailed
from fixloop.sandbox.git import Git, last_line
from fixloop.sandbox.tools.context import workspace_of
from fixloop.tools.registry import Tool, ToolContext, cap_output
from fixloop.triage import AppFrame, application_frames

MAX_FRAMES = 40
"""Distinct application frames blamed; further frames are counted, not blamed."""
GIT_TIMEOUT_S = 60
MAX_SOURCE_CHARS = 160


class SuspectCommitsInput(BaseModel):
    stack_trace: str | None = Field(
        default=None,
        description="Stack trace text to use instead of the signal's log lines (e.g. one "
        "found with query_logs). Default: the signal's log lines.",
    )


@dataclass(frozen=True)
class Blame:
    sha: str
    author: str
    email: str
    date: datetime
    subject: str
    path: str
    line: int
    source: str


def match_path(frame_path: str, files: list[str]) -> list[str]:
    """The repository file a frame's path names: the file sharing the longest run of final
    path components with it. The whole repository path must match, or at least two
    components (a deployment may drop a ``src/``). Empty when nothing matches; several
    when several match equally well."""
    parts = [p for p in PurePosixPath(frame_path.replace("\\", "/")).parts if p not in ("/", ".")]
    best: list[str] = []
    best_len = 0
    for name in files:
        repo_parts = name.split("/")
        common = 0
        while (
            common < min(len(parts), len(repo_parts))
            and parts[-1 - common] == repo_parts[-1 - common]
        ):
            common += 1
        if common == 0 or (common < len(repo_parts) and common < 2):
            continue
        if common > best_len:
            best, best_len = [name], common
        elif common == best_len:
            best.append(name)
    return best


def suspect_commits(ctx: ToolContext, args: SuspectCommitsInput) -> str:
    ws = workspace_of(ctx, "suspect_commits")
    if args.stack_trace and args.stack_trace.strip():
        text, source = args.stack_trace, "the given stack trace"
    else:
        text = "\n".join(line.message for line in ctx.signal.log_lines)
        source = "the signal's log lines"
    frames = application_frames(text)
    if not frames:
        raise ToolFailed(
            f'no application stack frames in {source} (looked for Python \'File "...", line '
            "N', Node 'at f (file:line:col)' and Java 'at a.B.m(B.java:42)' frames outside "
            "libraries, in text and JSON logs); pass stack_trace, e.g. from query_logs"
        )
    git = Git(ws.root)
    files = files_at(git, ws.base_commit)
    by_commit: dict[str, list[tuple[AppFrame, Blame]]] = {}
    unexplained: list[str] = []
    for frame in frames[:MAX_FRAMES]:
        matched = match_path(frame.source_path, files)
        if not matched:
            unexplained.append(f"{frame} (no file of the repository matches)")
            continue
        if len(matched) > 1:
            unexplained.append(f"{frame} (matches several files: {', '.join(matched[:4])})")
            continue
        blame = _blame(git, ws.base_commit, matched[0], frame.line)
        if isinstance(blame, str):
            unexplained.append(f"{frame} ({blame})")
            continue
        by_commit.setdefault(blame.sha, []).append((frame, blame))
    commits, blamed = len(by_commit), sum(map(len, by_commit.values()))
    lines = [
        f"{commits} commit{'s' if commits != 1 else ''} last changed the lines of {blamed}"
        f" application frame{'s' if blamed != 1 else ''} in {source}"
        f" (blame at {ws.base_commit[:12]}), newest first:"
    ]
    ordered = sorted(by_commit.values(), key=lambda hits: hits[0][1].date, reverse=True)
    for hits in ordered:
        b = hits[0][1]
        lines.append(f"{b.sha[:12]}  {_iso(b.date)}  {b.author} <{b.email}>  {b.subject}")
        for frame, hit in hits:
            lines.append(f"    {hit.path}:{hit.line} <- {frame}")
            lines.append(f"        {hit.source}")
    if len(frames) > MAX_FRAMES:
        unexplained.append(f"{len(frames) - MAX_FRAMES} more frames were not blamed")
    if unexplained:
        lines.append("Not explained:")
        lines += [f"    {u}" for u in unexplained]
    return cap_output("\n".join(lines), ctx.max_output_chars)


def files_at(git: Git, base_commit: str) -> list[str]:
    """Every file of the repository at ``base_commit`` (git ls-tree), as repository paths."""
    out = git.run(["ls-tree", "-r", "-z", "--name-only", base_commit], timeout=GIT_TIMEOUT_S)
    if out.returncode != 0:
        raise ToolFailed(f"cannot list the files of {base_commit[:12]}: {last_line(out.stderr)}")
    return [n for n in out.stdout.decode("utf-8", "surrogateescape").split("\0") if n]


def _blame(git: Git, base_commit: str, path: str, line: int) -> Blame | str:
    """The commit that last changed ``path``:``line`` at the base commit, or why not."""
    proc = git.run(
        ["blame", "--porcelain", "-L", f"{line},{line}", base_commit, "--", path],
        timeout=GIT_TIMEOUT_S,
    )
    if proc.returncode != 0:
        reason = last_line(proc.stderr)
        if "has only" in reason:
            return f"past the end of {path} at the base commit: {reason}"
        return f"git blame failed: {reason}"
    out = proc.stdout.decode("utf-8", "replace").splitlines()
    if not out:
        return "git blame returned nothing"
    sha = out[0].split(" ", 1)[0]
    source = next((ln[1:] for ln in out if ln.startswith("\t")), "").strip()
    if len(source) > MAX_SOURCE_CHARS:
        source = source[:MAX_SOURCE_CHARS] + " [...]"
    log = git.run(
        ["log", "-1", "--format=%H%x1f%an%x1f%ae%x1f%at%x1f%s", sha, "--"], timeout=GIT_TIMEOUT_S
    )
    if log.returncode != 0:
        return f"git log failed for {sha[:12]}: {last_line(log.stderr)}"
    fields = log.stdout.decode("utf-8", "replace").strip().split("\x1f")
    if len(fields) != 5:
        return f"git log gave no details for {sha[:12]}"
    full, author, email, epoch, subject = fields
    return Blame(
        sha=full,
        author=author,
        email=email,
        date=datetime.fromtimestamp(int(epoch), UTC),
        subject=subject,
        path=path,
        line=line,
        source=source,
    )


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


SUSPECT_COMMITS = Tool(
    "suspect_commits",
    "Find the commits that last changed the lines named by the application frames of the "
    "signal's stack traces (git blame at the investigated commit): sha, author, date, "
    "subject and the frames each explains, newest first.",
    SuspectCommitsInput,
    suspect_commits,
    runs_in="sandbox",
)
