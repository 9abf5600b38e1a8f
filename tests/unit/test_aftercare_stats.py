"""``fixloop stats`` and ``GET /stats``: outcomes per service and overall, from the records."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fixloop.aftercare import execution_name_for, outcome_stats, service_of
from fixloop.cli.main import main
from fixloop.cli.stats import render
from fixloop.domain import Aftercare, Investigation, PullRequestRef

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def _inv(
    n: int,
    service: str,
    *,
    pr_after: float | None = None,
    status: str = "finished",
    aftercare: Aftercare | None = None,
    tokens: int = 0,
) -> Investigation:
    pr = (
        PullRequestRef(number=n, url=f"u{n}", branch="b", head_sha="h", base="main")
        if pr_after is not None
        else None
    )
    return Investigation.model_validate(
        {
            "investigation_id": f"inv-20261122090000-0000000{n}",
            "title": "t",
            "repo": "/r/svc",
            "model": "anthropic:claude-sonnet-4-5",
            "status": status,
            "service": service,
            "created_at": T0,
            "pull_request": pr,
            "pull_request_at": T0 + timedelta(seconds=pr_after) if pr_after is not None else None,
            "aftercare": aftercare,
            "tokens_input": tokens,
        }
    )


def _figures() -> list[Investigation]:
    verified = Aftercare(merges=1, verifications=1, verified_at=T0 + timedelta(hours=25))
    recurred = Aftercare(round=1, phase="recurred", merges=1, recurrences=1)
    return [
        _inv(1, "orders", pr_after=60, status="verified", aftercare=verified, tokens=1_000_000),
        _inv(2, "orders", pr_after=180, status="delivered"),
        _inv(3, "orders"),
        _inv(4, "payments", pr_after=600, status="running", aftercare=recurred),
    ]


def test_outcomes_are_counted_per_service_and_overall() -> None:
    stats = outcome_stats(_figures()).as_json()
    orders, payments, overall = (
        stats["services"]["orders"],
        stats["services"]["payments"],
        stats["overall"],
    )
    assert [orders[k] for k in ("investigations", "pull_requests", "merged", "verified")] == [
        3,
        2,
        1,
        1,
    ]
    assert orders["recurred"] == 0 and payments["recurred"] == 1 and payments["verified"] == 0
    assert orders["median_seconds_to_pull_request"] == 120.0  # of 60 and 180
    assert orders["median_seconds_to_verified"] == 25 * 3600.0
    assert payments["median_seconds_to_verified"] is None
    assert overall["investigations"] == 4 and overall["merged"] == 2
    assert overall["median_seconds_to_pull_request"] == 180.0
    assert orders["cost_usd"] == pytest.approx(3.0)  # a million input tokens of Sonnet 4.5
    assert overall["cost_usd"] == orders["cost_usd"] + payments["cost_usd"]


def test_the_table_has_a_row_per_service_and_the_overall_row() -> None:
    table = render(outcome_stats(_figures()).as_json()).splitlines()
    assert table[0].startswith("service    investigations  pull requests  merged  verified")
    assert table[1].split()[:6] == ["orders", "3", "2", "1", "1", "0"]
    assert table[1].split()[6:9] == ["2.0", "min", "25.0"]
    assert table[3].startswith("(overall)")


def test_an_investigation_without_a_service_is_counted_under_its_repository() -> None:
    inv = _inv(5, "").model_copy(update={"repo": "https://github.com/acme/shop.git"})
    assert service_of(inv) == "shop"
    assert service_of(inv.model_copy(update={"github_repo": "acme/shop"})) == "acme/shop"


def test_fixloop_stats_reads_the_kept_records_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "investigations"
    folder.mkdir()
    for inv in _figures():
        record = {"summary": {}, "investigation": inv.model_dump(mode="json"), "events": []}
        (folder / f"{inv.investigation_id}.json").write_text(json.dumps(record))
    monkeypatch.setenv("FIXLOOP_HOME", str(tmp_path))
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    assert main(["stats", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == outcome_stats(_figures()).as_json()


def test_aftercare_executions_are_named_from_the_investigation_and_round() -> None:
    inv = "inv-20261122090000-1a2b3c4d"
    assert execution_name_for(inv, 0) == f"{inv}-r0"
    assert execution_name_for(inv, 2, "regression-" + inv) == f"{inv}-r2-regression-{inv}"
    long = execution_name_for("x" * 79, 3, "recurred")
    assert len(long) <= 80 and long.endswith("-r3")
    assert long != execution_name_for("x" * 79, 3, "verified")
