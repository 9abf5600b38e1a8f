"""The ``fixloop`` command: its arguments, and how errors end it (a line, an exit code)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fixloop.cli import commands
from fixloop.cli.eval import default_parallel, evaluate
from fixloop.cli.stats import stats
from fixloop.errors import FixloopError
from fixloop.process import Terminated, make_not_dumpable, stop_on_sigterm

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    # The CLI holds the user's keys (a model API key, GITHUB_TOKEN) and, on the embedded
    # runtime, its AWS: nothing else the user runs may read them from /proc. Ctrl-C and
    # SIGTERM both unwind, so the runtime stops its sandboxes and their commands.
    make_not_dumpable()
    stop_on_sigterm()
    try:
        return int(args.func(args))
    except FixloopError as exc:
        print(f"fixloop: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("fixloop: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("fixloop: stopped", file=sys.stderr)
        return Terminated.exit_code


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
    inv.set_defaults(func=commands.investigate)

    trig = sub.add_parser(
        "trigger",
        help="deliver a signal as EventBridge or CloudWatch Logs would: triage, then investigate",
    )
    trig.add_argument("file", type=Path, help="an alarm state change event or a Logs message")
    trig.add_argument("--repo", required=True, type=Path, help="a local git repository")
    trig.add_argument("--model", default="anthropic", help="as for investigate")
    trig.add_argument("--github", metavar="OWNER/REPO", default="", help="as for investigate")
    _common(trig)
    trig.set_defaults(func=commands.trigger)

    show = sub.add_parser("show", help="show an investigation a previous command ran")
    show.add_argument("investigation_id")
    show.add_argument("--json", action="store_true", help="print the stored record as JSON")
    show.set_defaults(func=commands.show)

    demo = sub.add_parser("demo", help="run the built-in scenario (scripted model, sample repo)")
    _common(demo)
    demo.set_defaults(func=commands.demo)

    ev = sub.add_parser(
        "eval",
        help="run scenarios and grade each fix by a verification the agent never sees",
        description=(
            "Runs each scenario (a folder with scenario.json, or a folder of them) on the "
            "embedded runtime, then grades it: the scenario's verify command runs in a "
            "checkout of the delivered branch; exit 0 is resolved. See docs/evaluating.md."
        ),
    )
    ev.add_argument("dirs", nargs="+", type=Path, metavar="DIR", help="scenario folders")
    ev.add_argument(
        "--model",
        required=True,
        help="scripted (each scenario's script), anthropic[:MODEL] or bedrock[:MODEL]",
    )
    ev.add_argument(
        "--parallel",
        type=int,
        default=default_parallel(),
        help="runs at once (default: min(2, CPU count))",
    )
    ev.add_argument("--repeat", type=int, default=1, help="runs of each scenario (default 1)")
    ev.add_argument("--json", action="store_true", help="end with a one-line JSON summary")
    ev.add_argument("--report", type=Path, metavar="FILE.md", help="write a Markdown report")
    ev.add_argument(
        "--timeout",
        type=float,
        default=1800,
        help="seconds each investigation may take (its time budget; default 1800)",
    )
    ev.add_argument("--quiet", action="store_true", help="no progress lines")
    ev.set_defaults(func=evaluate)

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
    onboard.set_defaults(func=commands.onboard)

    outcomes = sub.add_parser(
        "stats",
        help="outcomes per service and overall: pull requests, merged, verified, recurred",
        description=(
            "Per service and overall: investigations, pull requests, merged, verified and "
            "recurred fixes, the median time from the signal to the pull request and to "
            "verified, and the model cost. Read from --url (a fixloop REST API, such as "
            "`fixloop serve`), from the tables of the AWS the environment names (--aws, or "
            "AWS_ENDPOINT_URL set), or else from the investigations previous commands kept."
        ),
    )
    outcomes.add_argument("--url", default="", help="a fixloop REST API (GET URL/stats)")
    outcomes.add_argument(
        "--aws", action="store_true", help="read the Investigations table of the configured AWS"
    )
    outcomes.add_argument("--json", action="store_true", help="print the figures as JSON")
    outcomes.set_defaults(func=stats)

    serve = sub.add_parser(
        "serve",
        help="run the embedded runtime and serve the webhooks and REST API over HTTP",
        description=(
            "Serves POST /webhooks/{github,slack,linear}, POST /signals, GET "
            "/investigations/ID, POST /investigations/ID/messages and GET /stats with the real "
            "handlers, until interrupted; every FIXLOOP_MERGE_POLL_SECONDS it looks for fix "
            "branches merged into their target branch (the local code host). Signing secrets "
            "come from FIXLOOP_SLACK_SIGNING_SECRET, "
            "FIXLOOP_LINEAR_WEBHOOK_SECRET and FIXLOOP_GITHUB_WEBHOOK_SECRET; Slack messages "
            "are heard from FIXLOOP_SLACK_TEAM_ID and FIXLOOP_SLACK_APP_ID only (default: the "
            "workspace and app of FIXLOOP_SLACK_BOT_TOKEN), Linear comments from "
            "FIXLOOP_LINEAR_ORGANIZATION_ID only (default: the organization of "
            "FIXLOOP_LINEAR_API_KEY)."
        ),
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback)")
    serve.add_argument("--port", type=int, default=8000, help="port (0: any free one)")
    serve.set_defaults(func=commands.serve)
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
