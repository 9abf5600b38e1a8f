"""The pull request's text: the model's account, then the evidence fixloop gathered itself.

The model writes the root cause and the change; fixloop appends what it knows for certain
from the log (the signal with links to it, the test runs before and after, the way back to
the investigation), so a reviewer never has to trust the model's summary of the evidence.
"""

from __future__ import annotations

from urllib.parse import quote

from fixloop.domain import Investigation, Signal, ToolResult, clean_title
from fixloop.store import StoredEvent

MAX_LOG_EVENTS = 2
MAX_SAMPLE_LINES = 25
MAX_RUN_LINES = 15


def compose_body(
    model_body: str,
    investigation: Investigation,
    signal: Signal,
    events: list[StoredEvent],
    live_view_url: str = "",
) -> str:
    parts = [model_body.strip(), "---", "### Evidence gathered by fixloop", *_evidence(signal)]
    before, after = _test_runs(events)
    parts += ["### Test runs"]
    if before is None and after is None:
        parts.append("No command was run in the sandbox.")
    if before is not None and before != after:
        parts += ["Before the fix:", _fenced(before)]
    if after is not None:
        parts += ["After the fix:" if before != after else "Last run:", _fenced(after)]
    turns = sum(1 for e in events if e.event.type == "assistant_message")
    link = (
        f"[{investigation.investigation_id}]({live_view_url.rstrip('/')}/investigations/"
        f"{investigation.investigation_id})"
        if live_view_url
        else f"`{investigation.investigation_id}` (`fixloop show {investigation.investigation_id}`)"
    )
    parts += [
        "### Investigation",
        f"{link}: {turns} turns on commit `{investigation.commit[:12]}`.",
    ]
    return "\n\n".join(parts)


def _evidence(signal: Signal) -> list[str]:
    region = signal.region or "us-east-1"
    console = f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
    seen = signal.occurred_at.isoformat()
    lines = [f"- **Signal**: {clean_title(signal.title)} (first seen {seen})"]
    if signal.kind == "alarm":
        lines.append(f"- [Alarm {signal.source}]({console}#alarmsV2:alarm/{quote(signal.source)})")
    else:
        # The console's fragment encodes twice and writes "%" as "$".
        group = quote(quote(signal.source, safe=""), safe="").replace("%", "$")
        lines.append(
            f"- [Log group {signal.source}]({console}#logsV2:log-groups/log-group/{group}) "
            f"({len(signal.log_lines)} error events in the signal)"
        )
    if signal.log_lines:
        sample = "\n".join(ln.message.rstrip() for ln in signal.log_lines[:MAX_LOG_EVENTS])
        lines.append(_fenced(_tail(sample, MAX_SAMPLE_LINES)))
    return lines


def _test_runs(events: list[StoredEvent]) -> tuple[str | None, str | None]:
    """The first failing command run (the reproduction) and the last one (the result)."""
    runs = [
        e.event.content
        for e in events
        if isinstance(e.event, ToolResult) and e.event.name == "run_command"
    ]
    if not runs:
        return None, None
    failing = next((r for r in runs if "\nexit code 0" not in r), None)
    return (_tail(failing, MAX_RUN_LINES) if failing else None), _tail(runs[-1], MAX_RUN_LINES)


def _tail(text: str, lines: int) -> str:
    kept = text.strip().splitlines()
    if len(kept) <= lines:
        return "\n".join(kept)
    return "\n".join([*kept[:2], f"[... {len(kept) - lines} lines ...]", *kept[-(lines - 2) :]])


def _fenced(text: str) -> str:
    return f"```\n{text.replace('```', '` ` `')}\n```"
