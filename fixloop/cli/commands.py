"""The ``fixloop`` commands: run investigations on the embedded runtime, show, onboard, serve."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

from fixloop.aftercare import MergePoller
from fixloop.agent.toolset import default_registry
from fixloop.cli import records
from fixloop.cli.demo import prepare_demo_repo
from fixloop.cli.output import print_summary, printer
from fixloop.cli.runtime import keep, open_runtime
from fixloop.cli.watch import Watcher
from fixloop.domain import load_signal
from fixloop.domain.describe import describe
from fixloop.errors import BadInputError
from fixloop.intake import Target, admit, start_investigation
from fixloop.llm.factory import model_from_spec
from fixloop.onboarding import deliver_onboarding
from fixloop.store import StoredEvent

GITHUB_REPO = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
DEMO_DIR = Path(__file__).resolve().parents[2] / "examples" / "orders-service"


def _check_github(value: str) -> None:
    if value and not GITHUB_REPO.fullmatch(value):
        raise BadInputError(f"--github {value}: expected OWNER/REPO")


def investigate(args: argparse.Namespace) -> int:
    _check_github(args.github)
    return run(
        repo=args.repo,
        github_repo=args.github,
        signal_file=args.signal,
        model=args.model,
        as_json=args.json,
        timeout_s=args.timeout,
        quiet=args.quiet,
        live_port=args.live_port if args.live else None,
    )


def serve(args: argparse.Namespace) -> int:
    from fixloop.local.gateway import API_ROUTES
    from fixloop.local.live import LiveServer
    from fixloop.local.runtime import EmbeddedRuntime

    with (
        EmbeddedRuntime() as rt,
        LiveServer(rt, host=args.host, port=args.port) as server,
        MergePoller(),
    ):
        print(f"runtime    embedded (moto on {rt.endpoint_url})", file=sys.stderr)
        for route in API_ROUTES:
            print(f"serving    {route.method:4} {server.url}{route.resource}", file=sys.stderr)
        print(f"live       {server.view_url()}", file=sys.stderr)
        print(
            f"mcp        {server.url}/mcp/ (Authorization: Bearer {server.token})", file=sys.stderr
        )
        print(f"listening  {server.url}", file=sys.stderr, flush=True)
        while True:
            time.sleep(3600)


def demo(args: argparse.Namespace) -> int:
    if not DEMO_DIR.is_dir():
        raise BadInputError(f"the demo scenario is missing: {DEMO_DIR} (use a source checkout)")
    repo = prepare_demo_repo(DEMO_DIR)
    return run(
        repo=repo,
        signal_file=DEMO_DIR / "fixloop" / "signal.json",
        model=f"scripted:{DEMO_DIR / 'fixloop' / 'demo.script.jsonl'}",
        as_json=args.json,
        timeout_s=args.timeout,
        quiet=args.quiet,
        live_port=args.live_port if args.live else None,
    )


def onboard(args: argparse.Namespace) -> int:
    _check_github(args.github)
    result = deliver_onboarding(args.repo, github_repo=args.github, functions=args.function)
    print(result.plan.summary, file=sys.stderr)
    pr = result.pull_request
    state = "opened" if pr.created else "updated"
    print(f"Pull request #{pr.number}: {result.plan.title} ({state})")
    print(f"  branch {pr.branch} -> {pr.base}   {pr.url}   head {pr.head_sha[:12]}")
    print(f"  files  {', '.join(result.files)}")
    if args.json:
        data = {"pull_request": pr.model_dump(mode="json"), "files": result.files}
        print(json.dumps(data, sort_keys=True))
    return 0


def run(
    *,
    repo: Path,
    signal_file: Path,
    model: str,
    as_json: bool,
    timeout_s: float,
    quiet: bool,
    github_repo: str = "",
    live_port: int | None = None,
) -> int:
    """Validate every input first, then run one investigation to its end (``live_port``:
    serve the live surfaces on that port, 0 for any)."""
    commit = _head_commit(repo)
    signal = load_signal(signal_file)
    provider = model_from_spec(model, known_tools=default_registry().names)
    say = printer(quiet)
    if model.startswith("scripted:"):
        say(f"model      {provider.name} (a replay of recorded turns: no model is called)")
    else:
        say(f"model      {provider.name}")
    say(f"repository {repo.resolve()} at {commit[:12]}")

    started = time.monotonic()
    with open_runtime(say, live_port) as (watcher, live):
        inv = start_investigation(
            signal,
            repo=str(repo.resolve()),
            commit=commit,
            model=model,
            state_machine_arn=watcher.state_machine_arn,
            github_repo=github_repo,
        )
        say(f"started    {inv.investigation_id}")
        if live is not None:
            say(f"live view  {live.view_url(inv.investigation_id)}")
        data = _follow(watcher, inv.investigation_id, say, timeout_s, started)
        print_summary(data)
        if live is not None and sys.stdin.isatty():
            say(f"live view  still at {live.view_url(inv.investigation_id)} (Ctrl-C to stop)")
            with suppress(KeyboardInterrupt):
                while True:
                    time.sleep(3600)
    if as_json:
        print(json.dumps(data, sort_keys=True))
    return 0 if data["status"] in ("delivered", "finished") else 1


def _follow(
    watcher: Watcher,
    investigation_id: str,
    say: Callable[[str], None],
    timeout_s: float,
    started: float,
) -> dict[str, Any]:
    """Show the investigation's events until it ends; keep its record; return its summary."""

    def show(stored: StoredEvent) -> None:
        for line in describe(stored.event):
            say(line)

    watcher.wait(investigation_id, timeout_s=timeout_s, on_event=show)
    data, saved = keep(watcher, investigation_id, time.monotonic() - started)
    say(f"saved      {saved} (fixloop show {investigation_id})")
    return data


def trigger(args: argparse.Namespace) -> int:
    """Deliver a signal the way EventBridge or CloudWatch Logs would: triage splits it into
    problems, each starts an investigation (or is counted on the one already on it)."""
    _check_github(args.github)
    commit = _head_commit(args.repo)
    signal = load_signal(args.file)
    model_from_spec(args.model, known_tools=default_registry().names)
    say = printer(args.quiet)
    started = time.monotonic()
    with open_runtime(say) as (watcher, _live):
        target = Target(
            repo=str(args.repo.resolve()),
            commit=commit,
            model=args.model,
            github_repo=args.github,
            state_machine_arn=watcher.state_machine_arn,
        )
        admissions = admit(signal, target)
        for a in admissions:
            verb = "started" if a.started else "counted on"
            say(f"triage     {verb} {a.investigation_id}: {a.title} ({a.occurrences} seen)")
        results = [
            _follow(watcher, a.investigation_id, say, args.timeout, started)
            for a in admissions
            if a.started
        ]
    for data in results:
        print_summary(data)
    if args.json:
        out = {
            "admissions": [
                {
                    "investigation_id": a.investigation_id,
                    "fingerprint": a.fingerprint,
                    "started": a.started,
                    "occurrences": a.occurrences,
                    "title": a.title,
                }
                for a in admissions
            ],
            "investigations": results,
        }
        print(json.dumps(out, sort_keys=True))
    return 0 if all(d["status"] in ("delivered", "finished") for d in results) else 1


def _head_commit(repo: Path) -> str:
    if not repo.is_dir():
        raise BadInputError(f"--repo {repo}: no such directory")
    proc = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--verify", "HEAD^{commit}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise BadInputError(f"--repo {repo}: not a git repository with at least one commit")
    return proc.stdout.strip()


def show(args: argparse.Namespace) -> int:
    record = records.load(args.investigation_id)
    if args.json:
        print(json.dumps(record, indent=1))
        return 0
    print_summary(record["summary"])
    inv = record["investigation"]
    print(f"  repository         {inv['repo']} at {inv['commit'][:12]}")
    delivered = [e["event"] for e in record["events"] if e["event"]["type"] == "delivered"]
    if not delivered:
        return 0
    last = delivered[-1]
    print()
    pr = last.get("pull_request")
    if pr:
        print(f"Pull request #{pr['number']}: {last['title']}")
        print(f"  branch {pr['branch']} -> {pr['base']}   {pr['url']}   head {pr['head_sha'][:12]}")
    else:
        print(f"Summary: {last['title']}")
    print()
    print(last["body"])
    if last.get("diff"):
        print()
        print(last["diff"])
    return 0
