"""The pull request's text: the model's account, then the evidence fixloop gathered itself.

The model writes the root cause and the change; fixloop appends what it knows for certain:
the signal with links to it, its own verification of the change (the new tests failing on
the base commit and passing with the fix, the suite on both: runs fixloop made itself, not
the model), and the way back to the investigation, so a reviewer never has to trust the
model's summary of the evidence.
"""

from __future__ import annotations

from urllib.parse import quote

from fixloop.domain import Investigation, Signal, clean_title
from fixloop.domain.verification import TestRun, VerificationReport
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
    *,
    verification: VerificationReport | None = None,
) -> str:
    parts = [model_body.strip(), "---", "### Evidence gathered by fixloop", *_evidence(signal)]
    parts += ["### Verified by fixloop", *verified_section(verification)]
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


def verified_section(report: VerificationReport | None) -> list[str]:
    """What fixloop's own verification showed: the verdict, then the new tests on the base
    commit and on the fix, trimmed."""
    if report is None:
        return ["fixloop did not verify this change."]
    verdict = "**Verified.**" if report.verified else "**Not verified.**"
    lines = [f"{verdict} {report.reason}"]
    facts = [f"- Reproduced on the base commit: {_reproduction(report)}"]
    facts.append(f"- Fixed: {'yes' if report.fixed else 'no'}")
    if report.command:
        facts.append(f"- Test command: `{report.command}`")
    base, fix = report.run("suite_on_base"), report.run("suite_on_fix")
    if base is not None and fix is not None:
        both = f"{_brief(base)} on the base commit, {_brief(fix)} with the fix"
        facts.append(f"- Whole suite: {both}")
    if report.new_failures:
        facts.append(f"- Newly failing: {', '.join(report.new_failures[:10])}")
    if report.tests:
        facts.append(f"- Tests added or changed: {', '.join(f'`{t}`' for t in report.tests[:10])}")
    lines.append("\n".join(facts))
    shown = [
        ("On the base commit, with only the change's tests", report.run("tests_on_base")),
        ("With the fix", report.run("tests_on_fix") or fix),
    ]
    for label, run in shown:
        if run is not None:
            lines.append(f"{label} (`{run.command}`): {_brief(run)}")
            lines.append(_fenced(_tail(run.output, MAX_RUN_LINES)))
    return lines


def _reproduction(report: VerificationReport) -> str:
    if not report.reproduced:
        return "no"
    symptom = report.symptom
    detail = []
    if symptom.matched:
        detail.append(f"fails with {', '.join(symptom.seen[:3])}, as in production")
    elif symptom.seen:
        detail.append(f"fails with {', '.join(symptom.seen[:3])}")
    if symptom.frames:
        detail.append(f"through {', '.join(f'`{f}`' for f in symptom.frames[:3])}")
    return "yes" + (f" ({'; '.join(detail)})" if detail else "")


def _brief(run: TestRun) -> str:
    return run.counts.describe() if run.counts is not None else run.describe()


def _tail(text: str, lines: int) -> str:
    kept = text.strip().splitlines()
    if len(kept) <= lines:
        return "\n".join(kept)
    return "\n".join([*kept[:2], f"[... {len(kept) - lines} lines ...]", *kept[-(lines - 2) :]])


def _fenced(text: str) -> str:
    return f"```\n{text.replace('```', '` ` `')}\n```"
