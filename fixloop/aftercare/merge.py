"""Merge detection: a fix's pull request merged into its target branch.

GitHub says so in its ``pull_request`` webhook (closed and merged: fixloop.channels.github).
The local code host has no webhook: a fix branch is merged when its head is reachable from
the target branch (:meth:`fixloop.delivery.local.LocalGitCodeHost.merge_of`), checked when a
signal arrives for the investigation (fixloop.intake.admission) and by ``fixloop serve`` at an
interval (:class:`fixloop.aftercare.poller.MergePoller`).

Either way :func:`record_merge` moves the investigation to ``merged`` (one winner), records
the round, and starts the round's aftercare execution (derived name: a redelivered webhook
starts none).
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Literal

from aws_lambda_powertools import Logger

from fixloop.aftercare.rounds import change, start_watch
from fixloop.delivery.local import LocalGitCodeHost
from fixloop.delivery.protocol import DeliveryError
from fixloop.domain import Aftercare, Delivered, Investigation
from fixloop.domain.aftercare import MAX_FILES
from fixloop.domain.events import outcome_position
from fixloop.domain.investigation import Status
from fixloop.store import stores

__all__ = ["MERGEABLE", "changed_files", "check_local_merges", "detect_local_merge", "record_merge"]

logger = Logger(child=True)

MERGEABLE: tuple[Status, ...] = ("delivered", "running", "blocked")
"""Statuses a merge moves to ``merged`` (running: revising after review when it was merged)."""
_DIFF_HEADER = re.compile(r"^diff --git a/(.+?) b/(.+)$", re.MULTILINE)


def record_merge(
    investigation_id: str,
    *,
    commit: str,
    at: datetime,
    by: str,
    source: Literal["github", "local"],
) -> Status:
    """The investigation's pull request was merged as ``commit``: move it to ``merged`` and
    start following the fix; the status it has afterwards. Repeating it changes nothing."""
    st = stores()
    inv = st.investigations.get(investigation_id)
    pr = inv.pull_request
    if inv.status in MERGEABLE and pr is not None:
        before = inv.aftercare or Aftercare()
        aftercare = before.model_copy(
            update={
                "phase": "merged",
                "turn": inv.turns,
                "pull_request_number": pr.number,
                "pull_request_url": pr.url,
                "branch": pr.branch,
                "base": pr.base,
                "head_sha": pr.head_sha,
                "merged_at": at,
                "merge_commit": commit,
                "merged_by": by,
                "merge_source": source,
                "files": changed_files(inv),
                "watch": "",
                "deployed_at": None,
                "deploy_source": None,
                "deploy_detail": "",
                "verified_at": None,
                "verify_detail": "",
                "merges": before.merges + 1,
            }
        )
        change(
            inv,
            from_statuses=MERGEABLE,
            to="merged",
            reason=f"pull request #{pr.number} merged by {by}"
            + (f" as {commit[:12]}" if commit else ""),
            aftercare=aftercare,
            expect_round=before.round,
        )
        inv = st.investigations.get(investigation_id)
    if inv.status == "merged" and inv.aftercare is not None:
        start_watch(investigation_id, inv.aftercare.round)
    return inv.status


def changed_files(inv: Investigation) -> list[str]:
    """The files the investigation's delivered change touched (from its ``Delivered`` event)."""
    delivered = stores().events.get(inv.investigation_id, outcome_position(inv.turns, "delivered"))
    if not isinstance(delivered, Delivered):
        return []
    files = [m.group(2) for m in _DIFF_HEADER.finditer(delivered.diff)]
    return list(dict.fromkeys(files))[:MAX_FILES]


def detect_local_merge(inv: Investigation) -> bool:
    """For an investigation on the local code host: whether its pull request was merged into
    its target branch (then recorded); False for anything else."""
    pr = inv.pull_request
    if inv.github_repo or inv.status not in MERGEABLE or pr is None:
        return False
    repo = Path(inv.repo)
    if not repo.is_dir():
        return False
    host = LocalGitCodeHost(repo)
    try:
        local = host.pull(pr.number)
        if local is None or local.investigation_id != inv.investigation_id:
            return False
        merge = host.merge_of(local)
    except (DeliveryError, OSError, ValueError) as exc:
        logger.warning("could not check the merge", extra={"repo": inv.repo, "error": str(exc)})
        return False
    if merge is None:
        return False
    # The pull request first: a crash in between leaves it merged, found merged again here.
    host.mark_merged(local.number, merge.commit)
    record_merge(
        inv.investigation_id, commit=merge.commit, at=merge.at, by=merge.by, source="local"
    )
    return True


def check_local_merges(limit: int = 500) -> list[str]:
    """Look at every delivered investigation on the local code host; the ids found merged."""
    merged = []
    for inv in stores().investigations.list(limit=limit):
        if inv.status == "delivered" and detect_local_merge(inv):
            merged.append(inv.investigation_id)
    return merged
