"""Settings read from the environment, validated once per process.

Lambda functions get these from the CDK stack; the embedded runtime sets the same variables
in its own process. Nothing reads ``os.environ`` anywhere else.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

STATE_MACHINE_NAME = "fixloop-investigation"
"""The investigation state machine's default name (the CDK stack's and the embedded
runtime's); the CLI finds it by this name on a local AWS."""
AFTERCARE_STATE_MACHINE_NAME = "fixloop-aftercare"
"""The aftercare state machine's default name (fixloop.aftercare: after the merge)."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FIXLOOP_", extra="ignore")

    events_table: str = "fixloop-events"
    investigations_table: str = "fixloop-investigations"
    blobs_bucket: str = "fixloop-blobs"
    sandboxes_table: str = "fixloop-sandboxes"
    fingerprints_table: str = "fixloop-fingerprints"
    inbox_table: str = "fixloop-inbox"
    waits_table: str = "fixloop-waits"
    targets: str = "{}"
    """JSON: alarm names or log group globs -> {"github_repo": "OWNER/REPO", "branch": "main"}
    (or {"repo": a clone source, ...}): where investigations of their signals look."""
    default_github_repo: str = ""
    """OWNER/REPO for signals no entry of ``targets`` matches."""
    github_web_url: str = "https://github.com"
    repeat_notice_seconds: int = Field(default=300, ge=0)
    """New occurrences of a problem under investigation are told to it at most this often;
    in between they are only counted."""
    state_machine_arn: str = ""
    model: str = "anthropic"
    """Default model spec for new investigations: scripted:FILE, anthropic[:ID], bedrock[:ID]."""
    tool_concurrency: int = Field(default=8, ge=1, le=40)
    max_turns_per_generation: int = Field(default=60, ge=2)
    """Continue-as-new after this many turns in one execution."""
    max_history_events: int = Field(default=15_000, ge=100, le=24_000)
    """Continue-as-new before an execution's estimated history reaches this; Step Functions
    fails an execution at 25,000 events, and a turn with many tool calls costs hundreds."""
    max_turns: int = Field(default=1000, ge=1)
    max_tool_output_chars: int = Field(default=30_000, ge=1_000)
    signal_prompt_tokens: int = Field(default=8_000, ge=1_000, le=100_000)
    """The first prompt's view of the signal stays under this many tokens (local estimate):
    the first and latest occurrence, then an even sample; ``get_signal`` pages the rest."""
    signal_line_chars: int = Field(default=2_000, ge=200, le=100_000)
    """Each log line in the first prompt is cut to this many characters (head and tail)."""
    thinking: str = Field(default="adaptive", pattern=r"^(adaptive|off|[0-9]+)$")
    """Extended thinking: "adaptive" (current models), "off", or a token budget (older ones)."""
    max_tokens: int = 8192
    max_tokens_retry: int = Field(default=32_000, ge=1)
    """A reply cut off at ``max_tokens`` is asked for once more with this much room."""
    strict_requests: bool = False
    """Fail a turn whose request breaks a rule of the Messages API (fixloop's own bug)
    instead of repairing it; the test suite sets it."""
    # -- long sessions: context, caching, budgets (docs/architecture.md, "Long sessions") --
    context_budget_tokens: int = Field(default=150_000, ge=4_000)
    """The prompt sent to the model stays under this many tokens: older turns are compacted
    before a turn whose prompt would pass ``compact_at`` of it."""
    compact_at: float = Field(default=0.8, gt=0.2, le=0.95)
    """Compact when the prompt passes this share of the budget (the rest is headroom for
    what one turn adds)."""
    compact_keep: float = Field(default=0.25, gt=0.05, lt=0.6)
    """Share of the budget the most recent turns, kept verbatim, may take after a summary."""
    clear_tool_results_over_chars: int = Field(default=2_000, ge=200)
    """The first compaction step clears older tool results longer than this."""
    prompt_cache_ttl: str = Field(default="auto", pattern=r"^(5m|1h|auto)$")
    """Cache entry lifetime: "5m", "1h", or "auto" (1h when the agent can ask a human and so
    may wait longer than five minutes between turns)."""
    budget_tokens: int = Field(default=0, ge=0)
    """Park an investigation once its model tokens (all kinds) pass this; 0: no limit."""
    budget_cost_usd: float = Field(default=0.0, ge=0)
    """Park an investigation once its model cost passes this many dollars; 0: no limit."""
    budget_wall_seconds: int = Field(default=0, ge=0)
    """Park an investigation still running this long after it opened; 0: no limit."""
    # -- live streaming (fixloop.agent.stream, fixloop.live) -------------------------------
    stream_flush_ms: int = Field(default=200, ge=0, le=10_000)
    """Streamed model fragments are written to the log at least this often while they come;
    0 turns streaming to the log off (the final message is written either way)."""
    stream_flush_bytes: int = Field(default=8_192, ge=256, le=65_536)
    """... or as soon as this many bytes are waiting: one chunk event stays far below
    DynamoDB's 400 KB item limit and fits a single 32 KB WebSocket frame."""
    # -- delivery -------------------------------------------------------------------------
    github_api_url: str = "https://api.github.com"
    """GitHub's REST API (GitHub Enterprise Server: https://HOST/api/v3)."""
    github_secret_arn: str = ""
    """Secrets Manager secret with {"token": ...} or a GitHub App's app_id, private_key and
    installation_id. Empty: the GITHUB_TOKEN environment variable (CLI use)."""
    github_seconds_between_writes: float = Field(default=1.0, ge=0)
    """Spacing of mutating GitHub requests, as GitHub asks of integrations."""
    github_webhook_secret_arn: str = ""
    github_webhook_secret: str = ""
    """Local use only; in AWS the secret comes from github_webhook_secret_arn."""
    live_view_url: str = ""
    """Base URL of the live view, for links back from pull requests."""
    # -- verification of a fix before its pull request (fixloop.agent.verify) --------------
    verify_attempts: int = Field(default=3, ge=1, le=20)
    """How many tries at a verified fix an investigation gets: each failed verification
    before the last is returned to the model as open_pull_request's error; the last one's
    fix is delivered unverified (``unverified_pull_requests``)."""
    unverified_pull_requests: str = Field(default="draft", pattern=r"^(draft|refuse)$")
    """A fix fixloop could not verify: "draft" opens a draft pull request labelled
    ``unverified`` with the reason; "refuse" opens none (the investigation ends blocked)."""
    verify_run_timeout_seconds: int = Field(default=600, ge=10, le=1_500)
    """Each of the (at most four) test runs of a verification is killed after this long."""
    connections_table: str = "fixloop-connections"
    websocket_management_url: str = ""
    """API Gateway Management API endpoint of the WebSocket API
    (https://{api}.execute-api.{region}.amazonaws.com/{stage}); the fan-out needs it, route
    handlers fall back to the one their event names."""
    live_auth: str = Field(default="token", pattern=r"^(token|cognito)$")
    """How WebSocket and MCP callers authenticate: "cognito" (a JWT of the user pool and app
    client below) or "token" (one shared secret: the embedded runtime prints it)."""
    live_token: str = ""
    cognito_user_pool_id: str = ""
    cognito_client_id: str = ""
    # -- sandbox: where dispatch starts one, and how long it lives -------------------------
    sandbox_cluster: str = ""
    sandbox_task_definition: str = ""
    sandbox_subnets: str = ""
    """Comma-separated private subnet ids for sandbox tasks."""
    sandbox_security_groups: str = ""
    sandbox_container: str = "sandbox"
    sandbox_port: int = 8080
    sandbox_heartbeat_seconds: int = Field(default=60, ge=2, le=3600)
    """A running tool call without a heartbeat for this long is retried on a new sandbox.
    The sandbox heartbeats at a third of it."""
    sandbox_idle_seconds: int = Field(default=600, ge=1)
    """A sandbox with no call for this long stops itself."""
    sandbox_launch_timeout_seconds: int = Field(default=240, ge=1)
    repo_token_function: str = ""
    """The Repo Token function the sandbox asks for a read-only token to clone a private
    GitHub repository (fixloop.credentials.repo_token). Empty: clone without credentials."""
    sandbox_isolation: str = Field(default="auto", pattern=r"^(auto|bwrap|uid|off)$")
    """How the sandbox confines the commands it runs (fixloop.sandbox.confinement): "bwrap"
    (namespaces: no network, own /proc, only the workspace writable), "uid" (a separate
    unprivileged uid; the server must be root), "auto" (bwrap if it works, else uid if this
    process can switch uid, else commands are refused) or "off" (unconfined: trusted
    repositories only)."""
    sandbox_user: str = "65534:65534"
    """The user commands run as in "uid" isolation: a name or uid, optionally ":group"."""
    sandbox_bwrap: str = "bwrap"
    """The bubblewrap program (a name looked up on PATH, or a path)."""
    sandbox_max_processes: int = Field(default=1_024, ge=16)
    """Processes (threads count) a command may have at once (RLIMIT_NPROC, a pids cgroup)."""
    sandbox_max_file_bytes: int = Field(default=1_073_741_824, ge=1_000_000)
    """The largest file a command may write (RLIMIT_FSIZE)."""
    sandbox_investigation: str = ""
    """Inside a sandbox: the investigation it serves (set by the dispatcher's task overrides)."""
    sandbox_id: str = ""
    sandbox_secret: str = ""
    """(Sandbox) What each call's ``Authorization: Bearer`` must carry (from the dispatcher)."""
    # -- people in the loop (fixloop.conversation.inbox, fixloop.channels) ------------------------
    human_timeout_seconds: int = Field(default=86_400, ge=1, le=31_536_000)
    """How long an investigation waits for a reply to a question before it is parked."""
    require_approval: bool = False
    """Ask a person on the investigation's channels before opening a pull request."""
    max_message_bytes: int = Field(default=64_000, ge=1_000, le=256_000)
    """Largest message body the REST, webhook and MCP endpoints accept (413 above)."""
    max_signal_bytes: int = Field(default=10 * 1024 * 1024, ge=1_000, le=10 * 1024 * 1024)
    """Largest signal ``POST /signals`` accepts (413 above; API Gateway's own limit)."""
    # -- who may reach the agent (docs/architecture.md, "Untrusted input") ------------------
    github_trusted_associations: str = "OWNER,MEMBER,COLLABORATOR"
    """Comma-separated ``author_association`` values whose pull request reviews and comments
    reach the investigation; others are acknowledged, logged and dropped."""
    slack_team_id: str = ""
    """The workspace(s) whose people may reach the agent (comma-separated team ids); Slack
    messages from any other workspace are refused. Empty: the workspace of the bot token
    (``auth.test``, learned once an hour); with no bot token either, every message."""
    slack_app_id: str = ""
    """The Slack app's id (``api_app_id`` of its events); events for another app are refused.
    Empty: the bot token's app (``bots.info``, which needs the ``users:read`` scope)."""
    slack_allowed_users: str = ""
    """Comma-separated Slack user ids allowed to reach the agent; empty: anyone in the
    workspace."""
    linear_organization_id: str = ""
    """The Linear organization whose people may comment (``organizationId``); comments from
    any other are refused. Empty: the API key's organization (learned once an hour); with no
    API key either, every comment."""
    linear_allowed_users: str = ""
    """Comma-separated Linear user ids allowed to reach the agent; empty: anyone."""
    linear_allowed_teams: str = ""
    """Comma-separated Linear team ids whose issues' comments reach the agent; empty: any."""
    slack_signing_secret_arn: str = ""
    slack_signing_secret: str = ""
    """Local use only; in AWS the secret comes from slack_signing_secret_arn."""
    slack_bot_token_arn: str = ""
    slack_bot_token: str = ""
    slack_channel: str = ""
    """Channel id where each investigation gets its thread; empty: no Slack posts."""
    slack_api_url: str = "https://slack.com/api/"
    linear_webhook_secret_arn: str = ""
    linear_webhook_secret: str = ""
    linear_api_key_arn: str = ""
    linear_api_key: str = ""
    linear_team_id: str = ""
    """Team to create an issue in for each investigation; empty: only linked issues."""
    linear_api_url: str = "https://api.linear.app/graphql"
    # -- after the merge (fixloop.aftercare, docs/architecture.md "After the merge") --------
    aftercare_state_machine_arn: str = ""
    """The state machine that follows a merged fix to production (started on the merge)."""
    merge_poll_seconds: int = Field(default=60, ge=1)
    """``fixloop serve`` looks this often for fix branches merged into their target branch
    (the local code host has no webhook)."""
    deploy_poll_seconds: int = Field(default=300, ge=1)
    """After the merge, AWS is asked this often whether the fix is deployed."""
    deploy_timeout_seconds: int = Field(default=3 * 86_400, ge=0)
    """No deployment seen this long after the merge: it is assumed (and said so)."""
    deploy_assumed_delay_seconds: int = Field(default=3_600, ge=0)
    """With no source to tell, the deployment is assumed this long after the merge."""
    verify_window_seconds: int = Field(default=86_400, ge=0)
    """After the deployment, the fix is verified if the problem stays away this long."""
    version_key: str = Field(default="version", pattern=r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
    """The key of a service's JSON log lines holding the deployed commit (``fixloop onboard``
    writes it)."""
    fault_plan: str = ""
    """Test-only fault injection plan (see fixloop.faults); empty in production."""
    fault_dir: str = "/tmp"
    """Where cross-process fault markers live (tests point it at a temporary directory)."""
    # -- the embedded runtime's chaos (fixloop.local.patches.chaos) --------------------------
    chaos: str = Field(default="", pattern=r"^\s*([a-z_]+(=[0-9.]+)?\s*(,\s*|$))*$")
    """Faults the embedded runtime produces where moto is kinder than AWS, comma-separated:
    ``dynamodb_throttle=RATE`` (a share of DynamoDB requests throttled, each attempt on its
    own: the SDK's retries absorb most), ``dynamodb_throttle_burst=RATE`` (a share of calls
    throttled on every attempt: the caller sees the throttle after the SDK's retries),
    ``transaction_conflict=RATE``, ``lambda_timeouts`` (each function's timeout from the
    catalogue enforced), ``sandbox_start=SECONDS`` (a sandbox task starts its process this
    late), ``heartbeat_clock`` (a waiting task's heartbeat clock runs from its start, the
    Lambda invocation included), ``missing_path_runtime`` (a missing path fails the
    execution with ``States.Runtime``, which ``States.ALL`` does not catch). Empty: none.
    The embedded runtime only; Lambda and the sandbox ignore it."""
    chaos_seed: int = 0
    """Seeds the chaos's draws, so a run's faults can be reproduced."""
    chaos_time_scale: float = Field(default=1.0, gt=0, le=100)
    """Multiplies the waits the chaos makes (a sandbox's start, the time a function gets
    before it times out, the SDK's back-off between throttled attempts): tests use small
    values."""


def id_list(value: str) -> frozenset[str]:
    """A comma-separated setting as a set (blanks ignored)."""
    return frozenset(part.strip() for part in value.split(",") if part.strip())


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
