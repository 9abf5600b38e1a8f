"""Open (or update) the instrumentation pull request of a service.

The plan's files are written into a temporary workspace, a clone of the repository at
``HEAD``; its snapshot gives both forms of the change the code hosts take (the binary patch
the local host applies, the files GitHub's Git Data API takes). The draft is the same on
every run at the same commit (fixed branch, investigation id and commit dates: the ``HEAD``
commit's committer date), so running ``fixloop onboard`` again opens no second pull request
and adds no second commit.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel

from fixloop.config import get_settings
from fixloop.credentials.github import github_auth_from_env
from fixloop.delivery.github import GitHubCodeHost
from fixloop.delivery.local import LocalGitCodeHost
from fixloop.delivery.protocol import PullRequestDraft
from fixloop.domain import PullRequestRef
from fixloop.errors import BadInputError, FixloopError
from fixloop.onboarding.plan import BRANCH, INVESTIGATION_ID, OnboardingPlan, plan_onboarding
from fixloop.sandbox.workspace import Snapshot, Workspace

__all__ = ["LABELS", "OnboardingResult", "deliver_onboarding", "open_onboarding_pull_request"]

LABELS = ["fixloop", "fixloop-onboarding"]


class OnboardingResult(BaseModel):
    plan: OnboardingPlan
    pull_request: PullRequestRef

    @property
    def files(self) -> list[str]:
        return [f.path for f in self.plan.files]


def open_onboarding_pull_request(
    repo: Path, *, github_repo: str = "", functions: Sequence[str] = ()
) -> PullRequestRef:
    """Open the instrumentation pull request of ``repo`` (a local git repository, at
    ``HEAD``): on GitHub when ``github_repo`` (``OWNER/REPO``) is given, else as a branch
    ``fixloop/onboarding`` of the local repository. Idempotent: the same commit gives the
    same branch head and the same pull request."""
    return deliver_onboarding(repo, github_repo=github_repo, functions=functions).pull_request


def deliver_onboarding(
    repo: Path, *, github_repo: str = "", functions: Sequence[str] = ()
) -> OnboardingResult:
    """:func:`open_onboarding_pull_request`, returning the plan with the pull request."""
    repo_name = github_repo.rsplit("/", 1)[-1] if github_repo else ""
    plan = plan_onboarding(repo, functions=functions, repo_name=repo_name)
    snapshot = materialise(repo, plan)
    draft = PullRequestDraft(
        investigation_id=INVESTIGATION_ID,
        base_commit=plan.base_commit,
        branch=BRANCH,
        title=plan.title,
        body=plan.body,
        commit_message=plan.commit_message,
        patch=snapshot.patch,
        files=snapshot.files,
        labels=list(LABELS),
        authored_at=_committer_date(repo, plan.base_commit),
    )
    if github_repo:
        settings = get_settings()
        with GitHubCodeHost(
            github_repo,
            github_auth_from_env(),
            base_url=settings.github_api_url,
            seconds_between_writes=settings.github_seconds_between_writes,
        ) as host:
            ref = host.deliver(draft)
    else:
        ref = LocalGitCodeHost(repo).deliver(draft)
    return OnboardingResult(plan=plan, pull_request=ref)


def materialise(repo: Path, plan: OnboardingPlan) -> Snapshot:
    """The plan as a change against its base commit: written into a temporary clone."""
    with tempfile.TemporaryDirectory(prefix="fixloop-onboard-") as tmp:
        ws = Workspace.create(Path(tmp) / "repo", repo.resolve(), plan.base_commit)
        for planned in plan.files:
            path = ws.resolve(planned.path)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(planned.content, encoding="utf-8")
        snapshot = ws.snapshot()
    if not snapshot.files:
        raise FixloopError(f"the onboarding of {repo} changes nothing at {plan.base_commit[:12]}")
    return snapshot


def _committer_date(repo: Path, commit: str) -> datetime:
    proc = subprocess.run(
        ["git", "-C", str(repo), "show", "-s", "--format=%cI", commit],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise BadInputError(f"--repo {repo}: cannot read commit {commit[:12]}")
    return datetime.fromisoformat(proc.stdout.strip())
