"""What happens to a fix after its pull request: where its deployment shows, and the record
of each round (merged, deployed, verified or recurred), kept on the investigation.

A *round* is one merged fix: the first merge is round 0; a recurrence reopens the
investigation and the next merge is round 1. Everything about a round is derived from its
number (event positions, the aftercare execution's name), so a retried step repeats it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

__all__ = [
    "Aftercare",
    "DeploySource",
    "DeployWatch",
    "Phase",
    "WatchState",
]

DeploySource = Literal["lambda", "cloudformation", "codedeploy", "logs", "assumed"]
"""What told fixloop the fix reached production: a new version of the Lambda function, a
CloudFormation stack update, a CodeDeploy deployment, the version key of the service's own
logs, or nothing (the merge time plus ``FIXLOOP_DEPLOY_ASSUMED_DELAY_SECONDS``)."""
Phase = Literal["merged", "deployed", "verified", "recurred"]
WatchState = Literal["", "pending", "unknown"]
"""The first look for the deployment: not made yet; ``pending`` (a source is there and does
not show the fix yet: occurrences until it does are expected); ``unknown`` (no source could
be read: the deployment will be assumed)."""


class DeployWatch(BaseModel):
    """Where a service's deployments show. From its ``FIXLOOP_TARGETS`` entry; what is left
    empty is derived from the signal (the function of ``/aws/lambda/<name>``, an alarm's
    ``FunctionName`` dimension, the log group; the stack from the function's
    ``aws:cloudformation:stack-name`` tag)."""

    functions: list[str] = Field(default_factory=list)
    log_group: str = ""
    service: str = ""
    """The Powertools ``service`` of its log lines (empty: any)."""
    version_key: str = ""
    """The key of its log lines holding the deployed commit (empty: ``FIXLOOP_VERSION_KEY``)."""
    stack: str = ""
    codedeploy_application: str = ""
    codedeploy_group: str = ""


class Aftercare(BaseModel):
    """The investigation's fix after the merge: the current round, and counts over all."""

    round: int = 0
    phase: Phase = "merged"
    turn: int = 0
    """The turn the round's events follow in the log (the investigation's turn at the
    merge)."""
    pull_request_number: int = 0
    pull_request_url: str = ""
    branch: str = ""
    base: str = ""
    """The target branch it was merged into."""
    head_sha: str = ""
    merged_at: datetime | None = None
    merge_commit: str = ""
    merged_by: str = ""
    merge_source: Literal["github", "local", ""] = ""
    files: list[str] = Field(default_factory=list)
    """The files the fix changed (at most :data:`MAX_FILES`)."""
    watch: WatchState = ""
    deployed_at: datetime | None = None
    deploy_source: DeploySource | None = None
    deploy_detail: str = ""
    verified_at: datetime | None = None
    verify_detail: str = ""
    recurred_at: datetime | None = None
    recurred_detail: str = ""
    """What showed the problem came back (the new occurrences, the alarm)."""
    merges: int = 0
    verifications: int = 0
    recurrences: int = 0
    regressions: list[str] = Field(default_factory=list)
    """Investigations of new errors in the files this fix changed, opened right after its
    deployment: possible regressions."""


MAX_FILES = 100
