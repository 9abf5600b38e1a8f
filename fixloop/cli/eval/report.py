"""What ``fixloop eval`` reports: the totals (``--json``), the rate and its interval, a table
on stdout and a Markdown report a person can read (``--report``).

The interval (with ``--repeat`` > 1) is the 95 % Wilson score interval of the resolved rate
over all runs: every run counts as one trial, repeats of a scenario included. It says how far
the rate measured on this many runs may be from the rate of the agent on these scenarios
(runs of one scenario are not independent trials of the agent in general, so read it as a
lower bound on the uncertainty, not a property of all bugs).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fixloop.cli.eval.runner import RunResult

__all__ = ["Z_95", "markdown", "print_table", "totals", "wilson_interval"]

Z_95 = 1.959963984540054
"""The standard normal quantile of a two-sided 95 % interval."""
OUTPUT_IN_REPORT = 3_000
"""Characters of an unresolved run's verify output shown in the report (its end)."""


def wilson_interval(resolved: int, runs: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of ``resolved`` successes in ``runs`` trials."""
    if runs <= 0:
        raise ValueError("no runs")
    p = resolved / runs
    z2 = z * z
    centre = (p + z2 / (2 * runs)) / (1 + z2 / runs)
    half = z / (1 + z2 / runs) * math.sqrt(p * (1 - p) / runs + z2 / (4 * runs * runs))
    lo = 0.0 if resolved == 0 else max(0.0, centre - half)
    hi = 1.0 if resolved == runs else min(1.0, centre + half)  # exact at the ends
    return lo, hi


def totals(results: Sequence[RunResult], scenarios: int, repeat: int) -> dict[str, Any]:
    """The ``--json`` line: counts, the rate, the interval (``--repeat`` > 1), the results."""
    runs = len(results)
    resolved = sum(1 for r in results if r.resolved)
    interval = None
    if repeat > 1 and runs:
        lo, hi = wilson_interval(resolved, runs)
        interval = [round(lo, 4), round(hi, 4)]
    costs = [r.cost_usd for r in results if r.cost_usd is not None]
    return {
        "scenarios": scenarios,
        "repeat": repeat,
        "runs": runs,
        "resolved": resolved,
        "errors": sum(1 for r in results if r.status == "error"),
        "resolved_rate": round(resolved / runs, 4) if runs else 0.0,
        "confidence_interval": interval,
        "cost_usd": round(sum(costs), 6) if costs else None,
        "wall_s": round(sum(r.wall_s for r in results), 3),
        "results": [r.as_json() for r in results],
    }


def summary_line(data: dict[str, Any]) -> str:
    rate = data["resolved_rate"]
    line = f"Resolved {data['resolved']} of {data['runs']} runs ({rate:.0%})"
    if data["repeat"] > 1:
        line += f" of {data['scenarios']} scenarios x {data['repeat']}"
    interval = data["confidence_interval"]
    if interval is not None:
        line += f"; 95% Wilson interval {interval[0]:.0%} to {interval[1]:.0%}"
    if data["cost_usd"] is not None:
        line += f"; cost ${data['cost_usd']:.4f}"
    if data["errors"]:
        line += f"; {data['errors']} could not be run or graded"
    return line


def print_table(data: dict[str, Any]) -> None:
    """One line a run, then the summary line (stdout)."""
    print()
    for r in data["results"]:
        mark = "resolved" if r["resolved"] else "not resolved"
        name = r["name"] + (f" #{r['run']}" if data["repeat"] > 1 else "")
        print(
            f"  {mark:<13} {name:<40} {r['status']:<10} {r['turns']:>3} turns "
            f"{r['wall_s']:>7.1f} s  {r['investigation_id'] or ''}"
        )
    print(summary_line(data))


def markdown(data: dict[str, Any], model: str) -> str:
    """The report: the summary line, a table of the runs, then why each unresolved one is."""
    lines = [
        "# fixloop eval",
        "",
        f"Model `{model}`. {summary_line(data)}.",
        "",
        "| scenario | run | resolved | status | turns | tool calls | tokens (in / out) "
        "| cost | time | verification | investigation |",
        "| --- | ---: | :---: | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for r in data["results"]:
        tokens = r["tokens"] or {}
        cost = f"${r['cost_usd']:.4f}" if r["cost_usd"] is not None else "-"
        cells = [
            _cell(r["name"]),
            str(r["run"]),
            "yes" if r["resolved"] else "**no**",
            _cell(r["status"]),
            str(r["turns"]),
            str(r["tool_calls"]),
            f"{tokens.get('input', 0):,} / {tokens.get('output', 0):,}",
            cost,
            f"{r['wall_s']:.0f} s",
            _cell(verification_text(r["verification"])),
            _investigation(r),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    unresolved = [r for r in data["results"] if not r["resolved"]]
    if unresolved:
        lines += ["", "## Not resolved", ""]
        for r in unresolved:
            lines.append(f"### {r['name']} (run {r['run']}): {r['status']}")
            lines += ["", r["reason"] or "-", ""]
            if r["verify_output"]:
                shown = r["verify_output"][-OUTPUT_IN_REPORT:]
                lines += ["```", shown.replace("```", "` ` `").rstrip(), "```", ""]
    return "\n".join(lines).rstrip() + "\n"


def verification_text(v: dict[str, Any] | None) -> str:
    """fixloop's own verification of the fix, in a few words ("-" when there was none)."""
    if not v:
        return "-"
    said = [
        "reproduced" if v.get("reproduced") else "not reproduced",
        "fixed" if v.get("fixed") else "not fixed",
    ]
    suite = (v.get("suite") or {}).get("fix") or {}
    if suite.get("passed") is not None or suite.get("failed") is not None:
        said.append(f"suite {suite.get('passed', 0)} passed, {suite.get('failed', 0)} failed")
    return ", ".join(said)


def _investigation(r: dict[str, Any]) -> str:
    if not r["investigation_id"]:
        return "-"
    shown = f"`fixloop show {r['investigation_id']}`"
    if r["record"]:
        path = Path(r["record"])
        shown += f", record [{_cell(str(path))}]({path.as_uri()})"
    return shown


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")
