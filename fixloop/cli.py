"""The ``fixloop`` command: run investigations on the embedded runtime."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fixloop import records
from fixloop.agent import start_investigation
from fixloop.domain import load_signal
from fixloop.errors import BadInputError, FixloopError
from fixloop.progress import describe
from fixloop.store import StoredEvent, stores
from fixloop.watch import Watcher

if TYPE_CHECKING:
    from fixloop.local.live import LiveServer

GITHUB_REPO = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
DEMO_DIR = Path(__file__).resolve().parents[1] / "examples" / "orders-service"


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except FixloopError as exc:
        print(f"fixloop: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("fixloop: interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fixloop", description=__doc__)
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    inv = sub.add_parser("investigate", help="investigate a signal against a local repository")
    inv.add_argument("--repo", required=True, type=Path, help="a local git repository")
    inv.add_argument(
        "--signal",
        required=True,
        type=Path,
        help="an EventBridge alarm state change event or a CloudWatch Logs subscription message",
    )
    inv.add_argument(
        "--model", default="anthropic", help="scripted:FILE, anthropic[:MODEL] or bedrock[:MODEL]"
    )
    inv.add_argument(
        "--github",
        metavar="OWNER/REPO",
        default="",
        help="deliver the pull request to this GitHub repository (token from GITHUB_TOKEN); "
        "default: a branch in the local repository",
    )
    _common(inv)
    inv.set_defaults(func=_investigate)

    trig = sub.add_parser(
        "trigger",
        help="deliver a signal as EventBridge or CloudWatch Logs would: triage, then investigate",
    )
    trig.add_argument("file", type=Path, help="an alarm state change event or a Logs message")
    trig.add_argument("--repo", required=True, type=Path, help="a local git repository")
    trig.add_argument("--model", default="anthropic", help="as for investigate")
    trig.add_argument("--github", metavar="OWNER/REPO", default="", help="as for investigate")
    _common(trig)
    trig.set_defaults(func=_trigger)

    show = sub.add_parser("show", help="show an investigation a previous command ran")
    show.add_argument("investigation_id")
    show.add_argument("--json", action="store_true", help="print the stored record as JSON")
    show.set_defaults(func=_show)

    demo = sub.add_parser("demo", help="run the built-in scenario (scripted model, sample repo)")
    _common(demo)
    demo.set_defaults(func=_demo)

    onboard = sub.add_parser(
        "onboard", help="open the pull request that instruments a service for fixloop"
    )
    onboard.add_argument("--repo", required=True, type=Path, help="a local git repository")
    onboard.add_argument(
        "--github",
        metavar="OWNER/REPO",
        default="",
        help="open the pull request on this GitHub repository (token from GITHUB_TOKEN); "
        "default: a branch in the local repository",
    )
    onboard.add_argument(
        "--function",
        metavar="NAME",
        action="append",
        default=[],
        help="the deployed name of a Lambda function to watch (repeatable; default: detected "
        "from the repository, or guessed from the handler modules)",
    )
    onboard.add_argument("--json", action="store_true", help="end with a one-line JSON summary")
    onboard.set_defaults(func=_onboard)

    serve = sub.add_parser(
        "serve",
        help="run the embedded runtime and serve the webhooks and REST API over HTTP",
        description=(
            "Serves POST /webhooks/{github,slack,linear}, POST /signals, GET "
            "/investigations/ID and POST /investigations/ID/messages with the real handlers, "
            "until interrupted. Signing secrets come from FIXLOOP_SLACK_SIGNING_SECRET, "
            "FIXLOOP_LINEAR_WEBHOOK_SECRET and FIXLOOP_GITHUB_WEBHOOK_SECRET."
        ),
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback)")
    serve.add_argument("--port", type=int, default=8000, help="port (0: any free one)")
    serve.set_defaults(func=_serve)
    return parser


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="end with a one-line JSON summary")
    p.add_argument("--timeout", type=float, default=1800, help="seconds to wait (default 1800)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument(
        "--live",
        action="store_true",
        help="serve the live view, WebSocket API and MCP on a local URL (embedded runtime); "
        "after the end it stays up until Ctrl-C when run in a terminal",
    )
    p.add_argument("--live-port", type=int, default=0, help="port of --live (default: any)")


def _check_github(value: str) -> None:
    if value and not GITHUB_REPO.fullmatch(value):
        raise BadInputError(f"--github {value}: expected OWNER/REPO")


def _investigate(args: argparse.Namespace) -> int:
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


def _serve(args: argparse.Namespace) -> int:
    import time

    from fixloop.local.gateway import API_ROUTES
    from fixloop.local.live import LiveServer
    from fixloop.local.runtime import EmbeddedRuntime

    with (
        EmbeddedRuntime() as rt,
        LiveServer(rt, host=args.host, port=args.port) as server,
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


def _demo(args: argparse.Namespace) -> int:
    from fixloop.demo import prepare_demo_repo

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


def _onboard(args: argparse.Namespace) -> int:
    from fixloop.onboarding import deliver_onboarding

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
    from fixloop.llm.factory import model_from_spec
    from fixloop.tools import default_registry

    commit = _head_commit(repo)
    signal = load_signal(signal_file)
    provider = model_from_spec(model, known_tools=default_registry().names)
    say = _printer(quiet)
    if model.startswith("scripted:"):
        say(f"model      {provider.name} (a replay of recorded turns: no model is called)")
    else:
        say(f"model      {provider.name}")
    say(f"repository {repo.resolve()} at {commit[:12]}")

    started = time.monotonic()
    with _runtime(say, live_port) as (watcher, live):
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
        _print_summary(data)
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
        for line in describe(stored):
            say(line)

    watcher.wait(investigation_id, timeout_s=timeout_s, on_event=show)
    summary = watcher.summary(investigation_id, duration_s=time.monotonic() - started)
    data = summary.as_json()
    saved = records.save(
        data,
        summary.investigation.model_dump(mode="json"),
        list(stores().events.read(investigation_id)),
    )
    say(f"saved      {saved} (fixloop show {investigation_id})")
    return data


def _trigger(args: argparse.Namespace) -> int:
    """Deliver a signal the way EventBridge or CloudWatch Logs would: triage splits it into
    problems, each starts an investigation (or is counted on the one already on it)."""
    from fixloop.agent.intake import Target, admit
    from fixloop.llm.factory import model_from_spec
    from fixloop.tools import default_registry

    _check_github(args.github)
    commit = _head_commit(args.repo)
    signal = load_signal(args.file)
    model_from_spec(args.model, known_tools=default_registry().names)
    say = _printer(args.quiet)
    started = time.monotonic()
    with _runtime(say) as (watcher, _live):
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
        _print_summary(data)
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


@contextmanager
def _runtime(
    say: Callable[[str], None], live_port: int | None = None
) -> Iterator[tuple[Watcher, LiveServer | None]]:
    """The embedded runtime, or the local AWS that ``AWS_ENDPOINT_URL`` names.

    That one setting points every client at a local AWS: unset, fixloop starts its own
    (moto in this process); set (a LocalStack, or another fixloop's embedded runtime), it
    uses the fixloop deployed there. With ``live_port`` (embedded runtime only) the live
    view, WebSocket API and MCP are served too.
    """
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        if live_port is not None:
            raise BadInputError("--live serves the embedded runtime only: unset AWS_ENDPOINT_URL")
        watcher = Watcher.find()
        say(f"runtime    local AWS at {endpoint} ({watcher.state_machine_arn})")
        yield watcher, None
        return
    from fixloop.local.live import LiveServer
    from fixloop.local.runtime import EmbeddedRuntime

    with EmbeddedRuntime() as rt:
        say(f"runtime    embedded (moto on {rt.endpoint_url}, real ASL, in-process Lambdas)")
        if live_port is None:
            yield rt.watcher, None
            return
        with LiveServer(rt, port=live_port) as live:
            say(f"live       {live.view_url()}  (MCP: {live.url}/mcp/ with this token)")
            yield rt.watcher, live


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


def _printer(quiet: bool) -> Callable[[str], None]:
    def say(line: str) -> None:
        if not quiet:
            print(line, file=sys.stderr, flush=True)

    return say


def _show(args: argparse.Namespace) -> int:
    record = records.load(args.investigation_id)
    if args.json:
        print(json.dumps(record, indent=1))
        return 0
    _print_summary(record["summary"])
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


def _print_summary(data: dict[str, Any]) -> None:
    print()
    print(f"Investigation {data['investigation_id']}: {data['status']}")
    if data["outcome"]:
        print(f"  outcome            {data['outcome']}")
    print(f"  turns              {data['turns']}  ({data['tool_calls']} tool calls)")
    print(f"  events in the log  {data['events']}")
    print(
        f"  executions         {data['executions']} generation(s), "
        f"{data['state_transitions']} state transitions"
    )
    print(f"  largest payload    {data['max_state_payload_bytes']} bytes")
    tokens = data.get("tokens")
    if tokens:
        print(
            f"  model tokens       {tokens['input']:,} input, {tokens['output']:,} output, "
            f"{tokens['cache_write']:,} cache write, {tokens['cache_read']:,} cache read"
            f"  ({data.get('compactions', 0)} compactions)"
        )
    cost = data.get("cost_usd")
    if cost:
        parts = ", ".join(
            f"{name.replace('_', ' ')} ${cost[name]:.4f}"
            for name in ("model", "step_functions", "lambda", "fargate", "dynamodb", "websocket")
        )
        print(f"  cost               ${cost['total']:.4f}  ({parts})")
    print(f"  took               {data['duration_s']:.1f} s")
    pr = data.get("pull_request")
    if pr:
        print(f"  pull request       #{pr['number']} on {pr['branch']}  {pr['url']}")


if __name__ == "__main__":
    sys.exit(main())
