"""Intake: from a signal to investigations, one per distinct problem.

A CloudWatch Logs delivery can carry several problems; each group of occurrences with one
fingerprint (``fixloop.triage``) is admitted on its own. A fingerprint with no investigation,
or whose investigation ended without a fix in flight, starts one; otherwise the occurrences
are counted on the investigation already on it, and at most every
``FIXLOOP_REPEAT_NOTICE_SECONDS`` the investigation is told the problem recurred. Nothing is
dropped silently: every occurrence is counted.

After the fix is merged (fixloop.aftercare), an occurrence reopens the same investigation
with the new occurrences as evidence (unless the fix is known not to be deployed yet); an
investigation parked on an instrumentation pull request wakes with them. A delivered fix on
the local code host is checked for a merge first (it has no webhook). A new problem whose
frames are in files a just-deployed fix changed is flagged as its possible regression.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from aws_lambda_powertools import Logger

from fixloop.aftercare import (
    detect_local_merge,
    flag_regressions,
    on_occurrence,
    wake_with_telemetry,
)
from fixloop.config import get_settings
from fixloop.conversation import Announcer, post_message
from fixloop.domain import (
    DeployWatch,
    Investigation,
    LogLine,
    Signal,
    clean_title,
    new_investigation_id,
)
from fixloop.domain.investigation import AFTER_MERGE_STATUSES
from fixloop.domain.signal import utcnow
from fixloop.errors import TransientError
from fixloop.intake.start import start_investigation
from fixloop.store import InvestigationNotFound, stores
from fixloop.store.fingerprints import FingerprintRecord
from fixloop.triage import alarm_fingerprint, error_fingerprint, normalise_message, parse_events

logger = Logger(child=True)

CLAIM_ATTEMPTS = 5
ATTACHED = frozenset({"running", "delivered", "blocked", "parked"})
"""Statuses in which new occurrences belong to the existing investigation. After finished,
failed, fixed (a merge recorded before the aftercare) or rejected, the problem gets a new
investigation; after a merge (:data:`AFTER_MERGE_STATUSES`) it reopens this one."""


@dataclass(frozen=True)
class Admission:
    fingerprint: str
    investigation_id: str
    started: bool
    occurrences: int
    title: str


@dataclass(frozen=True)
class Target:
    """Where investigations of these signals look and deliver."""

    repo: str
    commit: str
    model: str | None = None
    github_repo: str = ""
    state_machine_arn: str | None = None
    deploy_watch: DeployWatch | None = None
    """Where the service's deployments show (the aftercare follows a fix with it)."""
    service: str = ""


def split_signal(signal: Signal) -> list[tuple[str, int, Signal]]:
    """(fingerprint, occurrences, the signal narrowed to that problem) per distinct problem."""
    if signal.kind == "alarm":
        return [(alarm_fingerprint(signal.source, _alarm_dimensions(signal)), 1, signal)]
    occurrences = parse_events((ln.timestamp, ln.message) for ln in signal.log_lines)
    if not occurrences:
        fp = alarm_fingerprint(signal.source, {"message": normalise_message(signal.title)})
        return [(fp, max(len(signal.log_lines), 1), signal)]
    groups: dict[str, list[int]] = {}
    for i, occ in enumerate(occurrences):
        groups.setdefault(error_fingerprint(occ), []).append(i)
    split = []
    for fp, members in groups.items():
        first = occurrences[members[0]]
        head = f"{first.exception_type}: {first.message}" if first.exception_type else first.message
        lines = [
            LogLine(
                timestamp=occurrences[i].timestamp or signal.occurred_at, message=occurrences[i].raw
            )
            for i in members
        ]
        narrowed = signal.model_copy(
            update={
                "title": clean_title(f"{clean_title(head or 'Errors', 90)} in {signal.source}"),
                "occurred_at": lines[0].timestamp,
                "log_lines": lines,
                "details": {**signal.details, "events": len(members)},
            }
        )
        split.append((fp, len(members), narrowed))
    return split


def admit(signal: Signal, target: Target, *, announce: Announcer | None = None) -> list[Admission]:
    """Admit each problem of ``signal``; ``announce`` tells people of a fix that did not
    hold or may have regressed."""
    return [_admit_one(fp, n, sig, target, announce) for fp, n, sig in split_signal(signal)]


def _admit_one(
    fp: str, occurrences: int, signal: Signal, target: Target, announce: Announcer | None
) -> Admission:
    st = stores()
    for _ in range(CLAIM_ATTEMPTS):
        record = st.fingerprints.get(fp)
        replacing = None
        if record is not None:
            inv = _investigation(record.investigation_id)
            if inv is not None and detect_local_merge(inv):
                inv = _investigation(record.investigation_id)
            if inv is not None and (
                inv.status in AFTER_MERGE_STATUSES
                or (inv.status == "parked" and inv.awaiting_telemetry)
            ):
                counted = st.fingerprints.count(fp, occurrences)
                if inv.status == "parked":
                    wake_with_telemetry(inv, signal, occurrences)
                else:
                    on_occurrence(inv, signal, counted, occurrences=occurrences, announce=announce)
                return Admission(
                    fp, record.investigation_id, False, counted.occurrences, signal.title
                )
            status = inv.status if inv is not None else None
            if status is None or status in ATTACHED:  # None: its creator is still starting it
                counted = st.fingerprints.count(fp, occurrences)
                _notify(counted, signal, status)
                return Admission(
                    fp, record.investigation_id, False, counted.occurrences, signal.title
                )
            replacing = record.investigation_id
        investigation_id = new_investigation_id()
        if st.fingerprints.claim(fp, investigation_id, replacing, occurrences):
            start_investigation(
                signal,
                repo=target.repo,
                commit=target.commit,
                model=target.model,
                investigation_id=investigation_id,
                state_machine_arn=target.state_machine_arn,
                github_repo=target.github_repo,
                fingerprint=fp,
                service=target.service,
                deploy_watch=target.deploy_watch,
            )
            logger.info("investigation started", extra={"fingerprint": fp})
            flag_regressions(investigation_id, signal, announce=announce)
            return Admission(fp, investigation_id, True, occurrences, signal.title)
        # another delivery claimed it in between: count on theirs
    raise TransientError(f"fingerprint {fp} kept changing hands; retry the delivery")


def _investigation(investigation_id: str) -> Investigation | None:
    try:
        return stores().investigations.get(investigation_id)
    except InvestigationNotFound:
        return None


def _notify(record: FingerprintRecord, signal: Signal, status: str | None) -> None:
    """Tell the investigation the problem recurred, at most every repeat_notice_seconds.

    ``record`` is the fingerprint as the count left it (its total and last notice)."""
    if status not in ("running", "delivered"):
        return
    now = utcnow()
    if (
        record.last_notified is not None
        and (now - record.last_notified).total_seconds() < get_settings().repeat_notice_seconds
    ):
        return
    st = stores()
    if not st.fingerprints.mark_notified(record.fingerprint, record.last_notified, now):
        return
    post_message(
        record.investigation_id,
        text=(
            f"The problem recurred: {record.occurrences} occurrences so far, the latest at "
            f"{signal.occurred_at.isoformat()}: {signal.title}"
        ),
        author="fixloop",
        channel="signal",
        delivery_id=f"{record.fingerprint[:16]}-{record.occurrences}",
        wake=False,
    )


def _alarm_dimensions(signal: Signal) -> dict[str, str]:
    try:
        metrics = json.loads(str(signal.details.get("metrics") or "[]"))
        metric = metrics[0]["metricStat"]["metric"]
        return {str(k): str(v) for k, v in (metric.get("dimensions") or {}).items()}
    except (ValueError, LookupError, TypeError, AttributeError):
        return {}
