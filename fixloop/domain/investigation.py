"""The investigation record and the small state the state machine carries between steps."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from fixloop.domain.aftercare import Aftercare, DeployWatch
from fixloop.domain.signal import utcnow

Status = Literal[
    "running",
    "delivered",
    "finished",
    "failed",
    "parked",
    "blocked",
    "fixed",
    "rejected",
    "merged",
    "deployed",
    "verified",
    "recurred",
]
"""running; delivered (a pull request is open); finished (concluded without a change);
failed (an error the loop could not get past); parked (a budget or limit stopped it, or it
waits for the telemetry of an instrumentation pull request); blocked (a fix exists but the
code host refused it, for a reason a person must fix); rejected (its pull request was closed
unmerged). After the merge (fixloop.aftercare): merged (its pull request is in the target
branch; fixloop watches for the deployment); deployed (the fix reached production, or is
assumed to have: the verification window runs); verified (the window passed without the
problem coming back); recurred (the problem came back after the fix: the same investigation
is reopened, so this status lasts only until it runs again). fixed: a merged pull request
from before the aftercare (records written by older versions)."""
AFTER_MERGE_STATUSES: frozenset[str] = frozenset({"merged", "deployed", "verified", "recurred"})
"""The fix is merged: a recurrence of the problem reopens the investigation."""
TERMINAL_STATUSES: frozenset[str] = frozenset(
    {"delivered", "finished", "failed", "parked", "blocked", "fixed", "rejected"}
    | AFTER_MERGE_STATUSES
)


class PullRequestRef(BaseModel):
    """Where a fix was delivered."""

    number: int
    url: str
    branch: str
    head_sha: str
    base: str
    """The branch the pull request targets."""
    created: bool = True
    """False when an existing pull request of the investigation was updated."""


class Investigation(BaseModel):
    investigation_id: str
    status: Status = "running"
    title: str
    signal_kind: str = ""
    """What reported the problem: ``alarm`` or ``log_errors`` (empty on older records)."""
    signal_source: str = ""
    """The alarm's name or the log group: the service, as lists of investigations show it."""
    repo: str
    """Where the code lives: a local git repository path, or OWNER/REPO."""
    commit: str = ""
    """The commit under investigation."""
    github_repo: str = ""
    """OWNER/REPO to deliver to on GitHub; empty: the local repository is the code host."""
    pull_request: PullRequestRef | None = None
    model: str
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    generation: int = 0
    turns: int = 0
    outcome: str = ""
    slack_channel: str = ""
    """The Slack channel of the investigation's thread (empty: none yet)."""
    slack_thread_ts: str = ""
    """The ``ts`` of the thread's first message: every post goes into that thread."""
    linear_issue_id: str = ""
    """The Linear issue the investigation is linked to (its comments become messages)."""
    require_approval: bool | None = None
    """Ask a person before opening a pull request; None: the deployment's default."""
    # -- long sessions: counters kept by Model Turn, budgets checked by Prepare ------------
    tokens_input: int = 0
    tokens_output: int = 0
    tokens_cache_write: int = 0
    tokens_cache_write_1h: int = 0
    """The part of ``tokens_cache_write`` written with the 1-hour TTL."""
    tokens_cache_read: int = 0
    counted_turn: int = 0
    """The last turn whose usage is in the counters (a retried turn is not counted twice)."""
    compactions: int = 0
    """Compaction events written (tool result clearings and summaries)."""
    context_from: str = ""
    """The latest summary's ``through``: the prompt needs only the log after it."""
    websocket_messages: int = 0
    """Messages the live view sent for this investigation (its fan-out adds to it)."""
    failed_verifications: int = 0
    """Proposed fixes whose verification failed so far (``FIXLOOP_VERIFY_ATTEMPTS`` bounds
    how many go back to the model)."""
    verified_turn: int = 0
    """The last turn whose failed verification is counted."""
    budget_tokens: int | None = None
    """Per-investigation budgets; None: the configured default (``FIXLOOP_BUDGET_*``)."""
    budget_cost_usd: float | None = None
    budget_wall_seconds: int | None = None
    # -- after the pull request (fixloop.aftercare) ------------------------------------------
    service: str = ""
    """The service the signal came from (a Lambda function, a log group, an alarm): how
    ``fixloop stats`` groups investigations."""
    fingerprint: str = ""
    """The problem's fingerprint (set by triage; empty for an investigation started
    directly): the Fingerprints record counting its occurrences."""
    deploy_watch: DeployWatch | None = None
    """Where its fix's deployment shows, as its target configures it (the signal fills in
    the rest)."""
    pull_request_at: datetime | None = None
    """When its first pull request was opened."""
    aftercare: Aftercare | None = None
    """What happened to its fix after the merge (None: never merged)."""
    awaiting_telemetry: str = ""
    """Parked on an instrumentation pull request (its URL): the problem's next occurrence,
    with the new telemetry, wakes it."""

    @property
    def total_tokens(self) -> int:
        return (
            self.tokens_input
            + self.tokens_output
            + self.tokens_cache_write
            + self.tokens_cache_read
        )

    @property
    def is_open(self) -> bool:
        return self.status not in TERMINAL_STATUSES


INVESTIGATION_ID = re.compile(r"inv-[0-9]{14}-[0-9a-f]{8}")
"""The shape :func:`new_investigation_id` makes."""
_PLAUSIBLE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")


def is_investigation_id(value: str) -> bool:
    """Whether ``value`` has the shape of an id fixloop makes (``inv-YYYYMMDDHHMMSS-<8 hex>``);
    what a file name or a path built from an id must check first."""
    return INVESTIGATION_ID.fullmatch(value) is not None


def plausible_id(value: str) -> bool:
    """Whether ``value`` could be an investigation's key at all (at most 128 letters, digits,
    ``_.:-``; no ``..``): anything else is not looked up, and so never reaches a table as a
    key it would refuse."""
    return _PLAUSIBLE_ID.fullmatch(value) is not None and ".." not in value


def new_investigation_id(now: datetime | None = None) -> str:
    """A sortable, unguessable id: ``inv-YYYYMMDDHHMMSS-<8 hex>``."""
    stamp = (now or utcnow()).strftime("%Y%m%d%H%M%S")
    return f"inv-{stamp}-{secrets.token_hex(4)}"


EXECUTION_END_STATUSES: tuple[str, ...] = ("FAILED", "TIMED_OUT", "ABORTED")
"""How an investigation's execution ends without concluding (SUCCEEDED is the only other
end): the statuses the CDK app's rule on the state machine's "Execution Status Change"
events sends to ``reconcile``, and the embedded runtime likewise."""


def execution_name(investigation_id: str, generation: int) -> str:
    """Execution names are derived, so a duplicate start of a generation is rejected by AWS.

    Step Functions allows 80 characters from ``[A-Za-z0-9-_]``.
    """
    name = f"{investigation_id}-g{generation}"
    if len(name) > 80:
        digest = hashlib.sha256(investigation_id.encode()).hexdigest()[:16]
        name = f"{investigation_id[:50]}-{digest}-g{generation}"
    return name


class ToolCallRef(BaseModel):
    """A tool call as the state machine carries it: its id and where it runs; the input is
    in the log."""

    id: str
    runs_in: Literal["lambda", "sandbox"] = "lambda"


Action = Literal["model", "gather", "continue", "stop", "tools", "deliver", "ask_human", "approve"]
"""``ask_human``: the model asked a person; ``approve``: it concluded with a pull request
and the configuration asks a person to approve it first. Both go to Wait For Human."""


class LoopState(BaseModel):
    """The state machine payload between steps: ids and counters only, never the transcript."""

    investigation_id: str
    generation: int = 0
    turn: int = 0
    """The current turn (Prepare advances it before each model turn)."""
    generation_start_turn: int | None = None
    history_events: int = 0
    """An upper estimate of this execution's history so far (see fixloop.agent.prepare)."""
    action: Action = "model"
    tool_calls: list[ToolCallRef] = Field(default_factory=list)
    tool_concurrency: int = 8
    sandbox_heartbeat_seconds: int = 60
    human_timeout_seconds: int = 86_400
    """How long Wait For Human waits for a reply before the investigation is parked."""
    next_generation: int | None = None
    next_execution_name: str | None = None
    error: dict[str, Any] | None = None
    """Set by a Catch (ResultPath $.error) before Mark Failed."""
    answer: dict[str, Any] | None = None
    """Set by Wait For Human (ResultPath $.answer): the wait answered, and for an approval
    whether it was approved."""

    def payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class TurnTask(BaseModel):
    """Model Turn's event: the loop's state, and how many times Step Functions has retried
    this task (``$$.State.RetryCount``: 0 on a first attempt, and again after a redrive)."""

    state: LoopState
    attempt: int = 0


class ToolTask(BaseModel):
    """One Map item: which tool call of which turn to run."""

    investigation_id: str
    turn: int
    index: int
    tool_use_id: str
    attempt: int = 0
    """``$$.State.RetryCount`` of the Run Tool task: 0 on a first attempt (and after a
    redrive), so only a retry can find the call's result stored."""
    error: dict[str, Any] | None = None
    """Set when the Run Tool task failed after its retries (Record Tool Failure)."""
    sandbox: dict[str, Any] | None = None
    """Set when the sandbox answered the call (Record Sandbox Result): its result is in the
    blob bucket at the key the call's position gives."""
