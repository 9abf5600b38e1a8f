"""What the CLI prints: progress lines on stderr, the summary of a run on stdout."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

__all__ = ["print_summary", "printer", "verified_line"]


def printer(quiet: bool) -> Callable[[str], None]:
    def say(line: str) -> None:
        if not quiet:
            print(line, file=sys.stderr, flush=True)

    return say


def print_summary(data: dict[str, Any]) -> None:
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
    verification = data.get("verification")
    if verification:
        print(f"  verified           {verified_line(verification)}")
    print(f"  took               {data['duration_s']:.1f} s")
    pr = data.get("pull_request")
    if pr:
        print(f"  pull request       #{pr['number']} on {pr['branch']}  {pr['url']}")


def verified_line(verification: dict[str, Any]) -> str:
    """``reproduced yes, fixed yes (suite: 2 passed on the base commit, 4 passed with the
    fix; 2.6 s)``."""

    def counts(run: dict[str, Any] | None) -> str:
        if not run:
            return "not run"
        if run.get("timed_out"):
            return "timed out"
        if "passed" not in run:
            return f"exit code {run.get('exit_code')}"
        parts = [f"{run['passed']} passed"]
        parts += [f"{run[k]} {k}" for k in ("failed", "errors") if run.get(k)]
        return ", ".join(parts)

    yes = {True: "yes", False: "no"}
    line = f"reproduced {yes[bool(verification['reproduced'])]}, "
    line += f"fixed {yes[bool(verification['fixed'])]}"
    suite = verification.get("suite") or {}
    if suite.get("base") or suite.get("fix"):
        line += (
            f" (suite: {counts(suite.get('base'))} on the base commit, "
            f"{counts(suite.get('fix'))} with the fix"
        )
        line += f"; {verification.get('duration_s', 0):.1f} s)"
    if not (verification["reproduced"] and verification["fixed"]):
        line += f"\n                     {verification.get('reason', '')}"
    return line
