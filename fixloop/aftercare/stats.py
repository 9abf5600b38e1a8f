"""Outcomes, counted: per service and overall, from the investigation records alone.

``investigations``; ``pull_requests`` (opened one); ``merged`` (a fix merged at least once);
``verified`` (its latest fix verified in production); ``recurred`` (a merged fix of it did not
hold at least once); the median time from the signal (the investigation's opening) to its
first pull request and to its verification; and the model cost (tokens at list prices; the
AWS share needs the executions' histories, which ``fixloop show`` reads for one run).
``fixloop stats`` and ``GET /stats`` print this.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import PurePosixPath
from typing import Any

from fixloop.cost import investigation_usage, model_cost, model_id_of
from fixloop.domain import Investigation

__all__ = ["Figures", "Stats", "outcome_stats", "service_of"]


@dataclass
class Figures:
    investigations: int = 0
    pull_requests: int = 0
    merged: int = 0
    verified: int = 0
    recurred: int = 0
    median_seconds_to_pull_request: float | None = None
    median_seconds_to_verified: float | None = None
    cost_usd: float = 0.0
    _to_pr: list[float] = field(default_factory=list, repr=False)
    _to_verified: list[float] = field(default_factory=list, repr=False)

    def add(self, inv: Investigation) -> None:
        self.investigations += 1
        ac = inv.aftercare
        if inv.pull_request is not None or ac is not None:
            self.pull_requests += 1
        if inv.pull_request_at is not None:
            self._to_pr.append((inv.pull_request_at - inv.created_at).total_seconds())
        if ac is not None and ac.merges:
            self.merged += 1
        if ac is not None and ac.recurrences:
            self.recurred += 1
        if inv.status == "verified" and ac is not None and ac.verified_at is not None:
            self.verified += 1
            self._to_verified.append((ac.verified_at - inv.created_at).total_seconds())
        self.cost_usd += model_cost(model_id_of(inv.model), investigation_usage(inv))
        self.median_seconds_to_pull_request = _median(self._to_pr)
        self.median_seconds_to_verified = _median(self._to_verified)

    def as_json(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if not k.startswith("_")}
        data["cost_usd"] = round(self.cost_usd, 4)
        return data


@dataclass
class Stats:
    overall: Figures
    services: dict[str, Figures]

    def as_json(self) -> dict[str, Any]:
        return {
            "overall": self.overall.as_json(),
            "services": {name: f.as_json() for name, f in sorted(self.services.items())},
        }


def outcome_stats(investigations: Iterable[Investigation]) -> Stats:
    overall = Figures()
    services: dict[str, Figures] = {}
    for inv in investigations:
        overall.add(inv)
        services.setdefault(service_of(inv), Figures()).add(inv)
    return Stats(overall, services)


def service_of(inv: Investigation) -> str:
    """The service an investigation is about: the one triage named, else its repository."""
    if inv.service:
        return inv.service
    if inv.github_repo:
        return inv.github_repo
    return PurePosixPath(inv.repo.rstrip("/")).name.removesuffix(".git") or "unknown"


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None
