"""Long sessions: context size, prompt caching, compaction and cost per investigation.

Runs replayed sessions of 50, 200 and 500 turns (each turn reads a ~6,000-character tool
result) through the real state machine on the embedded runtime, with the real Anthropic SDK
talking to the local Messages server (which accounts prompt caching as the API documents
it). Prints, per session: prompt tokens per turn (median, max), the share of prompt tokens
read from the cache (all turns from turn 2, and between compactions), compactions, state
transitions per turn, and the estimated cost without and with model tokens (priced as
Claude Sonnet 5).

    .venv/bin/python bench/long_sessions.py [--turns 50 200 500] [--budget 60000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fixloop.domain import CompactionSummary, ToolResultsCleared  # noqa: E402
from fixloop.local import patches  # noqa: E402
from tests.fakes.messages import MessagesServer  # noqa: E402
from tests.fakes.replay import SessionReplay, request_figures  # noqa: E402
from tests.integration.scenario import (  # noqa: E402
    log_of,
    long_session_script,
    noisy_logs_signal,
    start_replayed,
)
from tests.runtime import LocalRuntime  # noqa: E402
from tests.support import make_repo  # noqa: E402


def run(rt: LocalRuntime, repo: Path, turns: int) -> dict[str, float]:
    with MessagesServer(responder=SessionReplay(long_session_script(turns))) as server:
        started = time.monotonic()
        inv_id = start_replayed(repo, server.base_url, signal=noisy_logs_signal())
        rt.watcher.wait(inv_id, timeout_s=3600, poll_s=0.5)
        took = time.monotonic() - started
        summary = rt.watcher.summary(inv_id)
        figures = request_figures(server.requests)
    events = log_of(inv_id)
    compacted = {
        int(e.position[1:7])
        for e in events
        if isinstance(e.event, CompactionSummary | ToolResultsCleared)
    }
    turn_requests = [f for f in figures if f.turn is not None]
    later = [f for f in turn_requests if f.turn is not None and f.turn >= 2]
    steady = [f for f in later if f.turn not in compacted]
    data = summary.as_json()
    cost = data["cost_usd"]
    inv = summary.investigation
    return {
        "status_ok": float(inv.status == "finished"),
        "turns": inv.turns,
        "seconds": took,
        "prompt_median": statistics.median(f.prompt_tokens for f in turn_requests),
        "prompt_max": max(f.prompt_tokens for f in figures),
        "cached_all": sum(f.cache_read_tokens for f in later)
        / max(1, sum(f.prompt_tokens for f in later)),
        "cached_steady": sum(f.cache_read_tokens for f in steady)
        / max(1, sum(f.prompt_tokens for f in steady)),
        "clearings": sum(isinstance(e.event, ToolResultsCleared) for e in events),
        "summaries": sum(isinstance(e.event, CompactionSummary) for e in events),
        "executions": summary.executions,
        "transitions_per_turn": summary.state_transitions / inv.turns,
        "cost_aws": cost["aws"],
        "cost_total": cost["total"],
        "cost_model": cost["model"],
        "planted_kept": float("F-7731" in [f for f in figures if f.turn == turns][-1].text),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, nargs="+", default=[50, 200, 500])
    parser.add_argument("--budget", type=int, default=60_000, help="context budget (tokens)")
    parser.add_argument(
        "--ttl",
        nargs="+",
        default=["auto", "1h"],
        help="prompt cache TTLs to compare (auto: 1 hour only while a person's answer is likely)",
    )
    args = parser.parse_args()
    os.environ.setdefault("ANTHROPIC_API_KEY", "bench")
    work = Path(tempfile.mkdtemp(prefix="fixloop-bench-"))
    repo = make_repo(work / "repo", {"a.py": "x = 1\n"})
    settings: dict[str, str | None] = {
        "context_budget_tokens": str(args.budget),
        "thinking": "off",
    }
    results = []
    with LocalRuntime(settings) as rt:
        patches.set_retry_sleep(lambda _s: None)
        for ttl in args.ttl:
            rt.configure(prompt_cache_ttl=ttl)
            for turns in args.turns:
                results.append({**run(rt, repo, turns), "ttl": ttl})
    print(
        f"long sessions, embedded runtime, real SDK -> local Messages server "
        f"(context budget {args.budget:,} tokens; ~6,000-character tool result a turn; "
        "priced as claude-sonnet-5)"
    )
    header = (
        f"{'ttl':>4} {'turns':>6} {'prompt/turn med':>15} {'max':>7} {'cached':>7} {'steady':>7} "
        f"{'clear':>5} {'summ':>5} {'gens':>4} {'trans/turn':>10} "
        f"{'$ w/o model':>11} {'$ total':>9} {'fact kept':>9} {'wall s':>7}"
    )
    print(header)
    for r in results:
        print(
            f"{r['ttl']:>4} {r['turns']:>6.0f} {r['prompt_median']:>15,.0f} "
            f"{r['prompt_max']:>7,.0f} "
            f"{r['cached_all']:>7.1%} {r['cached_steady']:>7.1%} {r['clearings']:>5.0f} "
            f"{r['summaries']:>5.0f} {r['executions']:>4.0f} {r['transitions_per_turn']:>10.2f} "
            f"{r['cost_aws']:>11.4f} {r['cost_total']:>9.4f} "
            f"{'yes' if r['planted_kept'] else 'NO':>9} {r['seconds']:>7.0f}"
        )
    print(
        "cached: share of prompt tokens read from cache, turns 2+; steady: the same without "
        "the first turn after each compaction; clear/summ: compactions by clearing old tool "
        "results / by summary; gens: executions (continue-as-new); ttl: the cache TTL "
        "setting (auto writes 5-minute entries unless a person's answer is likely)"
    )
    by_ttl = {(r["ttl"], r["turns"]): r["cost_total"] for r in results}
    for turns in args.turns:
        if ("auto", turns) in by_ttl and ("1h", turns) in by_ttl:
            auto, hour = by_ttl[("auto", turns)], by_ttl[("1h", turns)]
            print(
                f"{turns} turns: auto ${auto:.4f} vs 1h ${hour:.4f} "
                f"({(hour - auto) / hour:.1%} saved by auto)"
            )


if __name__ == "__main__":
    main()
