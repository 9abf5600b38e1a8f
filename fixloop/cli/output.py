"""What the CLI prints: progress lines on stderr, the summary of a run on stdout."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

__all__ = ["print_summary", "printer"]


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
    print(f"  took               {data['duration_s']:.1f} s")
    pr = data.get("pull_request")
    if pr:
        print(f"  pull request       #{pr['number']} on {pr['branch']}  {pr['url']}")
