"""Run scripted investigations on the embedded runtime from tests."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from fixloop.cli.watch import RunSummary
from fixloop.domain import parse_signal
from fixloop.intake import start_investigation
from fixloop.llm import clear_model_cache
from fixloop.store import StoredEvent, stores
from tests.runtime import LocalRuntime
from tests.support import alarm_event, head, logs_message, text, tool_use, write_script


def start_scripted(
    repo: Path,
    turns: list[list[dict[str, Any]]],
    script: Path,
    *,
    signal: dict[str, Any] | None = None,
    github_repo: str = "",
) -> str:
    """Start a scripted investigation of ``repo``; returns its id without waiting."""
    write_script(script, turns)
    inv = start_investigation(
        parse_signal(signal or alarm_event()),
        repo=str(repo),
        commit=head(repo),
        model=f"scripted:{script}",
        github_repo=github_repo,
    )
    return inv.investigation_id


def run_scripted(
    rt: LocalRuntime,
    repo: Path,
    turns: list[list[dict[str, Any]]],
    script: Path,
    *,
    signal: dict[str, Any] | None = None,
    timeout_s: float = 120,
    followed: list[str] | None = None,
) -> RunSummary:
    """Run a scripted investigation to its end; ``followed`` collects what the follower saw."""
    investigation_id = start_scripted(repo, turns, script, signal=signal)
    rt.watcher.wait(
        investigation_id,
        timeout_s=timeout_s,
        on_event=None if followed is None else (lambda e: followed.append(e.position)),
    )
    return rt.watcher.summary(investigation_id)


def log_of(investigation_id: str) -> list[StoredEvent]:
    return list(stores().events.read(investigation_id))


def fingerprint(events: list[StoredEvent]) -> list[tuple[str, str, str]]:
    """What a run produced, without times and ids: (position, type, content)."""
    out: list[tuple[str, str, str]] = []
    for e in events:
        body = e.event.model_dump(mode="json", exclude={"at", "duration_ms"})
        out.append((e.position, e.event.type, json.dumps(body, sort_keys=True)))
    return out


REPLAY_MODEL = "anthropic:claude-sonnet-5"
"""The model a replayed session names: a real model id, so its caching minimum and its
price apply, served by the local Messages server."""


def start_replayed(
    repo: Path, server_url: str, *, signal: dict[str, Any] | None = None, model: str = REPLAY_MODEL
) -> str:
    """Start an investigation whose model is the real SDK pointed at a local Messages server
    (whose responder replays the session); returns its id without waiting."""
    os.environ["ANTHROPIC_BASE_URL"] = server_url
    os.environ.setdefault("ANTHROPIC_API_KEY", "test-key")
    clear_model_cache()
    inv = start_investigation(
        parse_signal(signal or alarm_event()), repo=str(repo), commit=head(repo), model=model
    )
    return inv.investigation_id


def noisy_logs_signal(lines: int = 40, width: int = 150) -> dict[str, Any]:
    """A Logs signal whose rendering (what get_signal returns) is large: ``lines`` error
    lines of about ``width`` characters."""
    messages = [
        f"ERROR checkout failed order={i:06d} coupon=SPRING{i % 7} "
        + "detail="
        + ("x" * max(0, width - 60))
        for i in range(lines)
    ]
    return logs_message(messages)


PLANTED_FACT = "NOTE: the coupon table was truncated at 02:14 UTC by migration 0042 (ticket F-7731)"


def long_session_script(turns: int) -> list[list[dict[str, Any]]]:
    """``turns`` turns that each read the signal (a large tool result), the first planting
    :data:`PLANTED_FACT`, the last concluding."""
    script = [[text(f"Starting. {PLANTED_FACT}"), tool_use("get_signal")]]
    script += [
        [text(f"Step {t}: reading the signal's log lines again."), tool_use("get_signal")]
        for t in range(2, turns)
    ]
    script.append([tool_use("finish", summary="Long session: found it.")])
    return script
