"""The code host protocol: where a fix becomes a branch, a commit and a pull request.

Two implementations: GitHub (``fixloop.delivery.github``, PyGithub) and a local git
repository (``fixloop.delivery.local``). Both are idempotent: delivering the same draft again,
or a new change for the same investigation, updates the one branch and pull request of that
investigation instead of opening another, and an unchanged change adds no commit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, Field

from fixloop.domain.investigation import PullRequestRef
from fixloop.errors import FixloopError
from fixloop.sandbox.workspace import FileChange

DEFAULT_LABELS = ("fixloop", "automated-fix")
UNVERIFIED_LABEL = "unverified"
"""On a pull request whose fix fixloop could not verify (it is opened as a draft); taken
off when a later, verified change of the same investigation updates it."""


class PullRequestDraft(BaseModel):
    """What to deliver: the change against the investigated commit, and how to present it."""

    investigation_id: str
    base_commit: str
    branch: str
    title: str
    body: str
    commit_message: str
    patch: str
    """``git diff --binary`` against ``base_commit`` (the local host applies it)."""
    files: list[FileChange]
    """The same change file by file (GitHub's Git Data API takes contents)."""
    labels: list[str] = Field(default_factory=lambda: list(DEFAULT_LABELS))
    draft: bool = False
    """Open it as a draft (an unverified fix): a person marks it ready for review."""
    authored_at: datetime
    """Author and committer date of the commit: fixed, so a retried delivery writes the
    very same commit object (same SHA) instead of a second one."""
    author_name: str = "fixloop"
    author_email: str = "fixloop@users.noreply.github.com"


@runtime_checkable
class CodeHost(Protocol):
    name: str

    def deliver(self, draft: PullRequestDraft) -> PullRequestRef:
        """Create or update the investigation's branch and pull request."""
        ...


class DeliveryError(FixloopError):
    """The code host refused the delivery for a reason a person must fix (credentials,
    permissions, a protected branch, a missing repository or commit). The message says
    what and how; the investigation is marked ``blocked`` with it."""


def branch_for(investigation_id: str) -> str:
    return f"fixloop/{investigation_id}"
