"""The catalogue of fixloop's Lambda functions: one entry per ``functions/<folder>/handler.py``.

The one list of them, read by everything that needs to know which functions exist:

- the CDK app builds each function from its entry (size, handler, environment) and grants it
  what its capabilities say (``stacks/constructs/functions.py``, ``grants.py``, ``live.py``);
- the embedded runtime registers the loop steps under their ASL placeholders and the functions
  invoked by name (``fixloop/local/handlers.py``);
- the cost model prices each function's GB-seconds at its memory (``fixloop/cost.py``).

Pure data with no CDK import: Lambda, the sandbox and the embedded runtime import this package.
A test checks that the synthesized template has exactly these functions with these sizes, and
that every handler folder is here and every entry has its folder.

**One Signal Trigger for alarms and error logs.** CloudWatch alarms (an EventBridge rule) and
error lines (CloudWatch Logs subscription filters) are delivered to the same function,
``signal_trigger``: the handler reads either payload (``fixloop.intake.triggers.handle_payload``
tells them apart), and the two sources need the same environment and permissions. Two
functions over one handler would double the roles, log groups, alarm metrics and cold starts
and buy no isolation (neither reserves concurrency). ``api_trigger`` stays its own function: it
answers API Gateway requests (``POST /signals``) with its own resolver.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "AFTERCARE_STEPS",
    "CATALOGUE",
    "LOOP_STEPS",
    "FunctionSpec",
    "Records",
    "Surface",
    "spec_of",
]


class Surface(StrEnum):
    """Who invokes a function (and the start of its description in the template)."""

    LOOP = "loop step"
    """The state machine, through the ASL placeholder ``${<construct_id>FunctionArn}``."""
    AFTERCARE = "aftercare step"
    """The aftercare state machine (statemachines/aftercare.asl.json), through the ASL
    placeholder ``${<construct_id>FunctionArn}``."""
    ENTRY = "entry point"
    """Something outside the loop: API Gateway, EventBridge, CloudWatch Logs, or a caller that
    invokes it by name (:attr:`FunctionSpec.invoked_by_name`)."""
    LIVE = "live"
    """The live surfaces: the WebSocket API, the Events stream, MCP (stacks/constructs/live.py)."""


class Records(StrEnum):
    """What a function may do with the Events and Investigations tables."""

    NONE = "none"
    READ = "read"
    WRITE = "write"
    """Read and write both."""
    COUNT = "count"
    """Read Events; write (not read) Investigations: the stream fan-out counts the messages it
    sends on the investigation record (its cost)."""


@dataclass(frozen=True)
class FunctionSpec:
    """One Lambda function: where its code is, how it is sized, and what it may touch."""

    folder: str
    """Its folder under ``functions/``; the deployed name on the embedded runtime is
    ``fixloop-<folder>``."""
    construct_id: str
    """Its CDK construct id (the stem of its logical ids), and for a loop step the stem of its
    ASL placeholder."""
    surface: Surface
    timeout_seconds: int
    memory_mb: int = 512
    handler: str = "handler.lambda_handler"
    """``<module>.<function>`` inside the folder, as Lambda's ``Handler`` setting has it."""
    invoked_by_name: bool = False
    """Whether fixloop invokes it by name (not through the state machine or an AWS event
    source): the dispatcher calls Repo Token, Slack Events invokes itself. The embedded
    runtime registers these with Lambda besides the loop steps."""
    invokes: tuple[str, ...] = ()
    """The functions of this catalogue it invokes by name (their folders, each
    :attr:`invoked_by_name`): it knows each as ``FIXLOOP_<FOLDER>_FUNCTION`` and may invoke
    that function (its unqualified ARN), no other."""

    # What it may touch.
    records: Records = Records.WRITE
    writes_event_bodies: bool = False
    """Writes (and reads back) event bodies too large for an item: objects under ``events/``
    of the Blobs bucket, nothing else of it."""
    reads_event_bodies: bool = False
    """Reads event bodies offloaded to Blobs (``events/``), nothing else of the bucket."""
    dispatches_sandboxes: bool = False
    """Starts sandbox tasks and calls them: runs in the VPC, may run the sandbox task
    definition and watch and stop its tasks, owns the Sandboxes table, answers task tokens
    (a retried call whose result is recorded; heartbeats while a sandbox starts) and signs
    the URLs a sandbox reads and writes ``sandboxes/`` of Blobs with (so its role may get and
    put those objects and list that prefix, with the data key)."""
    reads_sandbox_results: bool = False
    """Reads what sandboxes put (``sandboxes/*/results/*`` of Blobs), and may list it: a
    result that is missing reads as none (404), not as denied (403)."""
    reads_snapshots: bool = False
    """Reads the workspace snapshots sandboxes put (``sandboxes/*/workspace.json``), and may
    list them: a missing snapshot reads as none."""
    stops_sandboxes: bool = False
    """Stops the investigation's sandbox when it closes: reads and updates its Sandboxes
    record and may stop tasks of the sandbox cluster (``FIXLOOP_SANDBOX_CLUSTER``), nothing
    else of ECS."""
    starts_executions: bool = False
    """Starts executions of the investigation state machine: knows its ARN
    (``FIXLOOP_STATE_MACHINE_ARN``) and may ``states:StartExecution`` on that one machine."""
    knows_state_machine: bool = False
    """Knows the state machine's ARN without starting executions."""
    triages: bool = False
    """Turns signals into investigations through triage: reads and writes the Fingerprints
    table and knows ``FIXLOOP_TARGETS`` and ``FIXLOOP_DEFAULT_GITHUB_REPO``."""
    inbox: bool = False
    """Takes people's messages: reads and writes the Inbox and Waits tables and answers task
    tokens (resumes an investigation waiting on a person)."""
    reads_inbox: bool = False
    """Reads the Inbox table (a concluding turn defers while messages wait)."""
    notes: bool = False
    """Leaves fixloop's own notices (a recurrence) in the Inbox table (no Waits, no task
    tokens: a notice never answers a question)."""
    posts: bool = False
    """Posts to the investigation's Slack thread and Linear issue: reads the bot token and API
    key secrets and records its posts in the Inbox table."""
    signing_secret: str = ""
    """The inbound channel (``github``, ``slack``, ``linear``) whose signing secret the
    function verifies requests with; it also knows who may reach the agent through that
    channel (the ``FIXLOOP_*`` settings of fixloop.config's "who may reach the agent")."""
    learns_installation: bool = False
    """Reads the credential its ``signing_secret`` channel posts with (Slack's bot token,
    Linear's API key), only to learn the workspace and app or the organization it belongs to:
    whose people are heard when those are not configured."""
    calls_models: bool = False
    """Calls the model: reads the Anthropic API key secret and invokes Anthropic models on
    Bedrock."""
    github_credentials: bool = False
    """Reads the GitHub credentials secret (opens pull requests, or narrows it to a read-only
    clone token)."""
    reads_telemetry: bool = False
    """Runs the model's telemetry tools: Logs Insights, metrics, traces, Lambda versions."""
    invokes_itself: bool = False
    """Invokes itself asynchronously (acknowledges at once, does the work in the second run)."""
    invoked_asynchronously: bool = False
    """Invoked asynchronously (by EventBridge, CloudWatch Logs or itself): nobody waits for
    its answer, so a failed event would be dropped after Lambda's retries. It gets an
    on-failure destination, an SQS queue that is alarmed (stacks/constructs/failures.py)."""
    connections: bool = False
    """Reads and writes the WebSocket Connections table and posts to connections through the
    API's Management API."""
    starts_aftercare: bool = False
    """Starts executions of the aftercare state machine (a fix merged): knows its ARN
    (``FIXLOOP_AFTERCARE_STATE_MACHINE_ARN``) and may ``states:StartExecution`` on it."""
    watches_deployments: bool = False
    """Reads what tells a fix reached production and held there: Lambda versions
    (``GetFunction``, ``ListVersionsByFunction``), CloudFormation stack events, CodeDeploy
    deployments, the services' log lines (``FilterLogEvents``), alarm state and history."""
    fingerprints: bool = False
    """Reads and writes the Fingerprints table without triaging: a problem's occurrences
    since a deployment, the fixes in their verification window."""

    @property
    def description(self) -> str:
        return f"fixloop {self.surface}: {self.folder}"

    @property
    def asl_placeholder(self) -> str | None:
        """The ASL placeholder its state machine invokes it through (loop and aftercare
        steps only)."""
        if self.surface in (Surface.LOOP, Surface.AFTERCARE):
            return f"{self.construct_id}FunctionArn"
        return None

    @property
    def handler_file(self) -> str:
        """The handler's file inside the folder (``handler.py``)."""
        return self.handler.rsplit(".", 1)[0].replace(".", "/") + ".py"

    @property
    def handler_function(self) -> str:
        return self.handler.rsplit(".", 1)[1]


_LOOP, _ENTRY, _LIVE = Surface.LOOP, Surface.ENTRY, Surface.LIVE
_AFTERCARE = Surface.AFTERCARE

CATALOGUE: tuple[FunctionSpec, ...] = (
    # -- loop steps ------------------------------------------------------------------------
    # Prepare moves the inbox into the log and announces the start.
    FunctionSpec(
        "prepare",
        "Prepare",
        _LOOP,
        timeout_seconds=60,
        writes_event_bodies=True,
        inbox=True,
        posts=True,
        knows_state_machine=True,
    ),
    # Model Turn's Route reads the workspace snapshot when the model proposes a pull
    # request (files it cannot carry; whether there is a change to verify).
    FunctionSpec(
        "model_turn",
        "ModelTurn",
        _LOOP,
        timeout_seconds=900,
        memory_mb=1024,
        writes_event_bodies=True,
        reads_inbox=True,
        calls_models=True,
        reads_snapshots=True,
    ),
    # Run Tool also records what a sandbox put for a call (Record Sandbox Result).
    FunctionSpec(
        "run_tool",
        "RunTool",
        _LOOP,
        timeout_seconds=300,
        writes_event_bodies=True,
        reads_sandbox_results=True,
        reads_telemetry=True,
    ),
    # Deliver and Mark Failed announce the outcome and stop the investigation's sandbox;
    # Deliver reads the workspace snapshot the sandbox left, and wakes a delivered
    # investigation that received messages meanwhile.
    FunctionSpec(
        "deliver",
        "Deliver",
        _LOOP,
        timeout_seconds=120,
        writes_event_bodies=True,
        inbox=True,
        posts=True,
        starts_executions=True,
        github_credentials=True,
        reads_snapshots=True,
        stops_sandboxes=True,
    ),
    FunctionSpec(
        "mark_failed", "MarkFailed", _LOOP, timeout_seconds=60, posts=True, stops_sandboxes=True
    ),
    # Wait For Human registers a question's task token and posts it; Park Unanswered parks
    # (and wakes again if a message came in the meantime).
    FunctionSpec(
        "wait_for_human",
        "WaitForHuman",
        _LOOP,
        timeout_seconds=60,
        inbox=True,
        posts=True,
        starts_executions=True,
    ),
    # Dispatch Tool gives a sandbox each call with what it needs (the call, the
    # investigation, its signal, a clone header, pre-signed URLs): the sandbox reads no table.
    FunctionSpec(
        "dispatch_tool",
        "DispatchTool",
        _LOOP,
        timeout_seconds=300,
        records=Records.READ,
        dispatches_sandboxes=True,
        reads_event_bodies=True,
        invokes=("repo_token",),
    ),
    # -- the aftercare state machine ----------------------------------------------------------
    # One step between Wait states: looks for the merged fix in production, verifies it after
    # the window, reopens the investigation (its inbox and a new execution) when it did not
    # hold, and tells the investigation's people.
    FunctionSpec(
        "aftercare",
        "Aftercare",
        _AFTERCARE,
        timeout_seconds=300,
        notes=True,
        posts=True,
        starts_executions=True,
        watches_deployments=True,
        fingerprints=True,
        reads_event_bodies=True,  # the signal of a large log delivery
    ),
    # -- entry points ----------------------------------------------------------------------
    # The dispatcher asks it for a read-only token to clone a private repository
    # (fixloop.credentials.repo_token) and hands the sandbox only a clone header: neither
    # the sandbox nor the dispatcher holds the GitHub credentials.
    FunctionSpec(
        "repo_token",
        "RepoToken",
        _ENTRY,
        timeout_seconds=30,
        invoked_by_name=True,
        records=Records.READ,
        github_credentials=True,
    ),
    # Review feedback on a delivered pull request resumes its investigation.
    # A merged pull request starts the aftercare of its fix.
    FunctionSpec(
        "github_webhook",
        "GitHubWebhook",
        _ENTRY,
        timeout_seconds=30,
        starts_executions=True,
        starts_aftercare=True,
        inbox=True,
        writes_event_bodies=True,  # a very long review comment is too large for an item
        signing_secret="github",
    ),
    # People's messages: Slack (acknowledged at once, processed by an asynchronous
    # invocation of itself), Linear, and the REST API (read an investigation, post to it).
    FunctionSpec(
        "slack_events",
        "SlackEvents",
        _ENTRY,
        timeout_seconds=30,
        invoked_by_name=True,
        starts_executions=True,
        inbox=True,
        signing_secret="slack",
        learns_installation=True,
        invokes_itself=True,
        invoked_asynchronously=True,
    ),
    FunctionSpec(
        "linear_webhook",
        "LinearWebhook",
        _ENTRY,
        timeout_seconds=30,
        starts_executions=True,
        inbox=True,
        signing_secret="linear",
        learns_installation=True,
    ),
    FunctionSpec(
        "investigations_api",
        "InvestigationsApi",
        _ENTRY,
        timeout_seconds=30,
        starts_executions=True,
        inbox=True,
        writes_event_bodies=True,  # a long message; reading the log reads such bodies too
    ),
    # Signals become investigations through triage (fixloop.intake.triggers): an alarm going
    # into ALARM (EventBridge) or error lines of a log group (a CloudWatch Logs subscription),
    # both to the Signal Trigger, or a signal POSTed by an authenticated caller (POST /signals).
    # A log signal's lines may make an event body too large for an item: written to, and read
    # back from, Blobs. A recurrence is told to the investigation through its inbox (notes);
    # one after its fix was merged reopens it, and a fix merged on the local code host is
    # found here too; the aftercare state machine announces both (starts_aftercare), so the
    # triggers hold no channel credential. EventBridge and CloudWatch Logs invoke the Signal
    # Trigger asynchronously.
    *(
        FunctionSpec(
            folder,
            construct_id,
            _ENTRY,
            timeout_seconds=60,
            starts_executions=True,
            starts_aftercare=True,
            triages=True,
            notes=True,
            writes_event_bodies=True,
            invoked_asynchronously=asynchronous,
        )
        for folder, construct_id, asynchronous in (
            ("signal_trigger", "SignalTrigger", True),
            ("api_trigger", "ApiTrigger", False),
        )
    ),
    # An execution that ended FAILED, TIMED_OUT or ABORTED without Mark Failed (a
    # States.Runtime error, which no Catch sees; a timeout; a person stopping it): an
    # EventBridge rule on the state machine's status changes invokes Reconcile, which closes
    # the investigation as failed if it is still open and announces it, as Mark Failed would.
    FunctionSpec(
        "reconcile",
        "Reconcile",
        _ENTRY,
        timeout_seconds=60,
        posts=True,
        stops_sandboxes=True,
        invoked_asynchronously=True,
    ),
    # -- live surfaces ---------------------------------------------------------------------
    # The WebSocket API's token authorizer reaches no data at all.
    FunctionSpec(
        "websocket_authorizer",
        "WebSocketAuthorizer",
        _LIVE,
        timeout_seconds=10,
        memory_mb=256,
        records=Records.NONE,
    ),
    # The WebSocket routes and MCP: read the log, and post people's messages through the
    # inbox (which may answer a waiting question or wake a stopped investigation).
    FunctionSpec(
        "websocket",
        "WebSocket",
        _LIVE,
        timeout_seconds=30,
        memory_mb=256,
        inbox=True,
        starts_executions=True,
        reads_event_bodies=True,
        connections=True,
    ),
    # The Events stream's fan-out to subscribed connections.
    FunctionSpec(
        "stream_fanout",
        "StreamFanout",
        _LIVE,
        timeout_seconds=60,
        memory_mb=256,
        records=Records.COUNT,
        reads_event_bodies=True,
        connections=True,
    ),
    FunctionSpec(
        "mcp",
        "Mcp",
        _LIVE,
        timeout_seconds=30,
        inbox=True,
        starts_executions=True,
        reads_event_bodies=True,
    ),
)
"""Every function, loop steps first (the order the CDK app defines them in)."""

LOOP_STEPS: tuple[FunctionSpec, ...] = tuple(s for s in CATALOGUE if s.surface is Surface.LOOP)
"""The functions the state machine invokes."""
AFTERCARE_STEPS: tuple[FunctionSpec, ...] = tuple(
    s for s in CATALOGUE if s.surface is Surface.AFTERCARE
)
"""The functions the aftercare state machine invokes."""

_BY_FOLDER = {spec.folder: spec for spec in CATALOGUE}


def spec_of(folder: str) -> FunctionSpec:
    """The catalogue entry of the function in ``functions/<folder>``."""
    try:
        return _BY_FOLDER[folder]
    except KeyError:
        raise KeyError(f"no function {folder!r} in the catalogue (fixloop/functions.py)") from None
