"""What ``fixloop eval`` reports: the Wilson interval, the totals line and the Markdown."""

from __future__ import annotations

import pytest

from fixloop.cli.eval.report import markdown, totals, verification_text, wilson_interval
from fixloop.cli.eval.runner import RunResult


@pytest.mark.parametrize(
    ("resolved", "runs", "expected"),
    [
        # Values from the closed form, as published tables give them (z = 1.96)
        (0, 10, (0.0, 0.2775)),
        (5, 10, (0.2366, 0.7634)),
        (2, 2, (0.3424, 1.0)),
        (8, 10, (0.4902, 0.9433)),
        (45, 50, (0.7864, 0.9565)),
    ],
)
def test_the_wilson_score_interval(resolved: int, runs: int, expected: tuple[float, float]) -> None:
    assert wilson_interval(resolved, runs) == pytest.approx(expected, abs=1e-4)


def test_the_interval_narrows_with_more_runs_and_stays_within_0_and_1() -> None:
    widths = [hi - lo for lo, hi in (wilson_interval(n // 2, n) for n in (4, 16, 64, 256))]
    assert widths == sorted(widths, reverse=True)
    for k in range(11):
        lo, hi = wilson_interval(k, 10)
        assert 0.0 <= lo <= k / 10 <= hi <= 1.0
    with pytest.raises(ValueError):
        wilson_interval(0, 0)


def _result(name: str, run: int, resolved: bool, **kw: object) -> RunResult:
    base: dict[str, object] = {
        "status": "delivered",
        "reason": "verify passed" if resolved else "verify failed (exit code 1)",
        "investigation_id": f"inv-20261205000000-0000000{run}",
        "turns": 5,
        "tool_calls": 7,
        "tokens": {"input": 12_000, "output": 900},
        "cost_usd": 0.25,
        "wall_s": 41.2,
        "record": f"/home/u/.fixloop/investigations/inv-20261205000000-0000000{run}.json",
    }
    base.update(kw)
    return RunResult(name, run, resolved, **base)  # type: ignore[arg-type]


def test_totals_give_the_rate_and_the_interval_only_with_repeats() -> None:
    results = [_result("a", 1, True), _result("a", 2, False), _result("a", 3, True)]
    once = totals(results[:1], scenarios=1, repeat=1)
    assert once["confidence_interval"] is None
    data = totals(results, scenarios=1, repeat=3)
    assert (data["runs"], data["resolved"], data["errors"]) == (3, 2, 0)
    assert data["resolved_rate"] == pytest.approx(0.6667)
    assert data["confidence_interval"] == pytest.approx(list(wilson_interval(2, 3)), abs=1e-4)
    assert data["cost_usd"] == pytest.approx(0.75)
    assert [r["run"] for r in data["results"]] == [1, 2, 3]


def test_the_report_is_a_table_with_a_line_a_run_and_why_the_unresolved_were_not() -> None:
    verified = {"reproduced": True, "fixed": True, "suite": {"fix": {"passed": 4, "failed": 0}}}
    results = [
        _result("ledger | pipes", 1, True, verification=verified),
        _result("ledger | pipes", 2, False, verify_output="E   assert '1234' == '1,234'\n"),
        _result("no-pr", 3, False, status="finished", reason="no pull request", record=None),
    ]
    text = markdown(totals(results, scenarios=2, repeat=2), "anthropic:claude-sonnet-5")
    lines = text.splitlines()
    assert lines[0] == "# fixloop eval"
    assert "Model `anthropic:claude-sonnet-5`. Resolved 1 of 3 runs (33%)" in lines[2]
    assert "95% Wilson interval 6% to 79%" in lines[2]
    header = next(i for i, line in enumerate(lines) if line.startswith("| scenario |"))
    rows = lines[header + 2 : header + 5]
    assert all(row.count(" | ") == 10 for row in rows)  # 11 cells, the pipe in a name escaped
    assert rows[0].startswith("| ledger \\| pipes | 1 | yes | delivered | 5 | 7 | 12,000 / 900")
    assert "| $0.2500 | 41 s | reproduced, fixed, suite 4 passed, 0 failed |" in rows[0]
    assert "`fixloop show inv-20261205000000-00000001`" in rows[0]
    assert "(file:///home/u/.fixloop/investigations/inv-20261205000000-00000001.json)" in rows[0]
    assert "| **no** | finished |" in rows[2] and rows[2].endswith(
        "`fixloop show inv-20261205000000-00000003` |"
    )
    assert "### ledger | pipes (run 2): delivered" in text
    assert "E   assert '1234' == '1,234'" in text
    assert "### no-pr (run 3): finished" in text


def test_fixloop_s_own_verification_in_a_few_words() -> None:
    assert verification_text(None) == "-"
    assert verification_text({"reproduced": False, "fixed": True}) == "not reproduced, fixed"
