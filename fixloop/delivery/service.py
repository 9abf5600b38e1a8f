"""Deliver an investigation's fix: the sandbox's change, as a pull request on its code host."""

from __future__ import annotations

from datetime import datetime

from fixloop.config import get_settings
from fixloop.delivery.body import compose_body
from fixloop.delivery.hosts import code_host_for
from fixloop.delivery.protocol import (
    DEFAULT_LABELS,
    UNVERIFIED_LABEL,
    DeliveryError,
    PullRequestDraft,
    branch_for,
)
from fixloop.domain import Investigation, PullRequestRef, SignalReceived, clean_title
from fixloop.domain.events import signal_position
from fixloop.domain.verification import VerificationReport
from fixloop.sandbox.changes import describe_omitted
from fixloop.sandbox.snapshots import SnapshotStore
from fixloop.sandbox.workspace import Snapshot
from fixloop.store import stores

__all__ = ["deliver_fix", "undeliverable"]

MAX_PULL_REQUEST_TITLE = 120
"""The model writes the title after reading untrusted text: it goes through
:func:`~fixloop.domain.clean_title` like every title fixloop shows."""


def undeliverable(investigation_id: str) -> str | None:
    """Why the workspace's change cannot become a pull request as it stands (files the
    snapshot left out: a 30 MB binary, a generated dump), for the model to fix; None if it
    can. Read from the latest snapshot, so asking again gives the same answer."""
    st = stores()
    return _refusal(SnapshotStore(st.blobs).load(investigation_id))


def _refusal(snapshot: Snapshot | None) -> str | None:
    if snapshot is None or not snapshot.omitted:
        return None
    return (
        "open_pull_request refused: the workspace has files a pull request does not carry "
        f"(they are left out of the change):\n{describe_omitted(snapshot.omitted)}\n"
        "Then call open_pull_request again."
    )


def deliver_fix(
    investigation: Investigation,
    title: str,
    body: str,
    authored_at: datetime,
    *,
    verification: VerificationReport | None = None,
    unverified: bool = False,
) -> tuple[PullRequestRef, PullRequestDraft]:
    """Open or update the investigation's pull request. ``authored_at`` (the concluding
    turn's time) fixes the commit's dates, so a retry writes the very same commit.
    ``verification`` (fixloop's own test runs) goes into the body; ``unverified`` opens it
    as a draft labelled ``unverified``."""
    st = stores()
    inv_id = investigation.investigation_id
    snapshot = SnapshotStore(st.blobs).load(inv_id)
    refusal = _refusal(snapshot)
    if refusal is not None:
        raise DeliveryError(refusal)
    if snapshot is None or not snapshot.files:
        raise DeliveryError(
            "open_pull_request was called but the workspace has no change against "
            f"{investigation.commit[:12]}: nothing to deliver"
        )
    signal = st.events.get(inv_id, signal_position())
    assert isinstance(signal, SignalReceived)
    events = list(st.events.read(inv_id))
    title = clean_title(title, MAX_PULL_REQUEST_TITLE)
    draft = PullRequestDraft(
        investigation_id=inv_id,
        base_commit=snapshot.base_commit,
        branch=branch_for(inv_id),
        title=title,
        body=compose_body(
            body,
            investigation,
            signal.signal,
            events,
            get_settings().live_view_url,
            verification=verification,
        ),
        commit_message=f"{title}\n\nFound and fixed by fixloop in investigation {inv_id}.",
        patch=snapshot.patch,
        files=snapshot.files,
        authored_at=authored_at,
        draft=unverified,
        labels=[*DEFAULT_LABELS, *([UNVERIFIED_LABEL] if unverified else [])],
    )
    return code_host_for(investigation).deliver(draft), draft
