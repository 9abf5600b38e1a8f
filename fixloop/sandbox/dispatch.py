"""Dispatch Tool: hand a code tool call to the investigation's sandbox (the trusted side).

The Map item waits on a task token (``lambda:invoke.waitForTaskToken``); this step finds a
live sandbox (starting one if needed, heartbeating the task while it starts), gives it the
call with everything the call needs (the tool and its input, the investigation's facts, the
signal, pre-signed URLs for the result and the workspace snapshot) and returns. The sandbox
runs the call, puts its result, and answers the token; the Map's next state records the
result in the log. The sandbox itself writes no table.

If the sandbox dies, its heartbeats stop, the task times out, and the retry lands here again:
the dead sandbox is stopped and replaced, and the new one restores the workspace snapshot.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import timedelta
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger
from pydantic import BaseModel

from fixloop import aws
from fixloop.config import get_settings
from fixloop.credentials.repo_token import RepoTokenRequest
from fixloop.domain import Investigation, Signal
from fixloop.domain.events import (
    SignalReceived,
    signal_position,
    tool_result_position,
    verification_position,
)
from fixloop.domain.signal import utcnow
from fixloop.domain.verification import verified_call_id
from fixloop.errors import EventNotFound, SandboxUnavailable, StorageThrottled, TransientError
from fixloop.sandbox.launcher import launch, stop_task, task_address
from fixloop.sandbox.protocol import SandboxCall, WorkspaceSource, result_key, snapshot_key
from fixloop.sandbox.verification import VERIFY_FIX
from fixloop.store import stores
from fixloop.store.sandboxes import SandboxRecord
from fixloop.tools.execution import find_call
from fixloop.tools.results import has_result

__all__ = ["DispatchTask", "dispatch_tool", "ensure_sandbox", "stop_sandbox"]

logger = Logger(child=True)
CONNECT_TIMEOUT_S = 5.0
POLL_S = 0.2
URL_SECONDS = 3 * 3600
"""Pre-signed URLs outlive the longest call (2 h) with room to spare."""
TOKEN_SECONDS = 45 * 60
"""A clone token is reused this long (an installation token lives an hour)."""
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # sandboxes are private


class DispatchTask(BaseModel):
    """Run In Sandbox's input."""

    task_token: str
    investigation_id: str
    turn: int
    index: int
    tool_use_id: str


def dispatch_tool(task: DispatchTask) -> dict[str, object]:
    st = stores()
    if _answered(task):
        # A retry after the result was recorded but before the token was answered.
        aws.client("stepfunctions").send_task_success(
            taskToken=task.task_token, output=json.dumps({"tool_use_id": task.tool_use_id})
        )
        return {"tool_use_id": task.tool_use_id, "dispatched": False}
    heartbeat = _Heartbeat(task.task_token)
    call = _call(task)
    for _ in range(3):
        record = ensure_sandbox(task.investigation_id, heartbeat=heartbeat)
        try:
            _post(record, call)
        except OSError as exc:
            logger.warning(
                "sandbox unreachable; replacing it",
                extra={"sandbox_id": record.sandbox_id, "error": str(exc)},
            )
            st.sandboxes.update(task.investigation_id, record.sandbox_id, status="lost")
            stop_task(record.task_arn, "unreachable: replaced")
            continue
        _mark_used(task.investigation_id, record.sandbox_id)
        return {"tool_use_id": task.tool_use_id, "sandbox_id": record.sandbox_id}
    raise SandboxUnavailable(f"no reachable sandbox for {task.investigation_id}")


def ensure_sandbox(investigation_id: str, *, heartbeat: _Heartbeat | None = None) -> SandboxRecord:
    """The investigation's live sandbox; starts one (exactly one, across concurrent
    dispatchers) when there is none or the last one stopped or was lost. While a sandbox
    starts, the waiting call's task is kept alive with heartbeats."""
    settings = get_settings()
    st = stores()
    launch_window = timedelta(seconds=settings.sandbox_launch_timeout_seconds)
    deadline = time.monotonic() + settings.sandbox_launch_timeout_seconds
    record: SandboxRecord | None = None
    while True:
        record = _poll(investigation_id, record)
        if record is not None and record.status == "ready":
            return record
        if record is not None and record.status == "starting":
            if utcnow() - record.started_at < launch_window and time.monotonic() < deadline:
                ready = _ready(record)
                if ready is not None:
                    return ready
                if heartbeat is not None:
                    heartbeat.beat()
                time.sleep(POLL_S)
                continue
            stop_task(record.task_arn, "did not start in time: replaced")
        if time.monotonic() >= deadline:
            raise SandboxUnavailable(f"no sandbox started for {investigation_id} in time")
        sandbox_id = uuid.uuid4().hex
        secret = secrets.token_urlsafe(32)
        replacing = record.sandbox_id if record is not None else None
        if st.sandboxes.claim(investigation_id, sandbox_id, replacing, secret):
            logger.info(
                "starting a sandbox", extra={"sandbox_id": sandbox_id, "replacing": replacing}
            )
            try:
                task_arn = launch(investigation_id, sandbox_id, secret)
            except Exception:
                st.sandboxes.update(investigation_id, sandbox_id, status="lost")
                raise
            _record_task(investigation_id, sandbox_id, task_arn, deadline, heartbeat)


def _mark_used(investigation_id: str, sandbox_id: str) -> None:
    """Refresh the sandbox's last use, best effort: the call is handed over already, and
    failing the step for this write would have the state machine hand it over again."""
    try:
        stores().sandboxes.update(investigation_id, sandbox_id)
    except StorageThrottled:
        logger.info("sandbox last-use write throttled; left for the next call")


def _poll(investigation_id: str, known: SandboxRecord | None) -> SandboxRecord | None:
    """The record read again while a sandbox starts; the one in hand when the read is
    throttled past the SDK's retries (a poll that learned nothing: the next one asks again,
    where failing would throw away the wait and start it over at the state machine's retry)."""
    try:
        return stores().sandboxes.get(investigation_id)
    except StorageThrottled:
        if known is None:
            raise
        logger.info("sandbox record read throttled; polling again")
        return known


def _record_task(
    investigation_id: str,
    sandbox_id: str,
    task_arn: str,
    deadline: float,
    heartbeat: _Heartbeat | None,
) -> None:
    """Record the task just started for ``sandbox_id``, again while DynamoDB throttles the
    write (it is idempotent): a record left without its task can never be promoted to ready,
    so every dispatcher would wait out the launch window for it while the task runs unknown.
    Past the deadline the task is stopped, not left running, and the throttle raised."""
    st = stores()
    while True:
        try:
            st.sandboxes.update(investigation_id, sandbox_id, task_arn=task_arn)
            return
        except StorageThrottled:
            if time.monotonic() >= deadline:
                stop_task(task_arn, "its task could not be recorded: stopped")
                raise
            logger.info("sandbox task write throttled; writing it again")
            if heartbeat is not None:
                heartbeat.beat()
            time.sleep(POLL_S)


def _ready(record: SandboxRecord) -> SandboxRecord | None:
    """Promote a starting sandbox to ready once its task runs and it answers as itself."""
    if not record.task_arn:
        return None
    status, address = task_address(record.task_arn)
    if status in ("STOPPED", "DEPROVISIONING", "STOPPING"):
        # It ended before it served (a failed start): replace it now, not at the deadline.
        logger.warning("sandbox stopped while starting", extra={"sandbox_id": record.sandbox_id})
        stores().sandboxes.update(record.investigation_id, record.sandbox_id, status="lost")
        return None
    if address is None:
        return None
    endpoint = f"http://{address}:{get_settings().sandbox_port}"
    try:
        with _OPENER.open(f"{endpoint}/health", timeout=CONNECT_TIMEOUT_S) as resp:
            health = json.load(resp)
    except (OSError, ValueError):
        return None
    if health.get("sandbox_id") != record.sandbox_id:
        return None
    st = stores()
    if not st.sandboxes.update(
        record.investigation_id, record.sandbox_id, status="ready", endpoint=endpoint
    ):
        return None  # replaced meanwhile
    return record.model_copy(update={"status": "ready", "endpoint": endpoint})


def stop_sandbox(investigation_id: str, reason: str) -> None:
    """Stop the investigation's sandbox, if one runs (its investigation closed)."""
    st = stores()
    record = st.sandboxes.get(investigation_id)
    if record is None or record.status in ("stopped", "lost"):
        return
    st.sandboxes.update(investigation_id, record.sandbox_id, status="stopped")
    stop_task(record.task_arn, reason)


def _answered(task: DispatchTask) -> bool:
    """Whether the call's result (a verification's report) is already in the log."""
    if verified_call_id(task.tool_use_id) is not None:
        position = verification_position(task.turn)
        return stores().events.get(task.investigation_id, position) is not None
    return has_result(task.investigation_id, task.turn, task.index)


def _what(task: DispatchTask) -> tuple[str, Any, str]:
    """The operation the sandbox runs for this Map item, its input, and where its result
    goes: the model's call, or fixloop's verification of the change an
    ``open_pull_request`` call proposes (with the test command the model named)."""
    inv_id = task.investigation_id
    verified = verified_call_id(task.tool_use_id)
    if verified is None:
        call = find_call(inv_id, task.turn, task.index, task.tool_use_id)
        return call.name, call.input, tool_result_position(task.turn, task.index)
    proposal = find_call(inv_id, task.turn, task.index, verified).args
    named = proposal.get("test_command")
    verify = {
        "test_command": named if isinstance(named, str) and named.strip() else None,
        "timeout_s": get_settings().verify_run_timeout_seconds,
    }
    return VERIFY_FIX.name, verify, verification_position(task.turn)


def _call(task: DispatchTask) -> SandboxCall:
    """Everything the sandbox needs for this call, read on the trusted side."""
    settings = get_settings()
    inv_id = task.investigation_id
    name, call_input, position_key = _what(task)
    investigation, signal = _fixed_facts(inv_id)
    s3 = aws.presigner()
    bucket = settings.blobs_bucket

    def presign(method: str, key: str) -> str:
        return str(
            s3.generate_presigned_url(
                method, Params={"Bucket": bucket, "Key": key}, ExpiresIn=URL_SECONDS
            )
        )

    return SandboxCall(
        task_token=task.task_token,
        investigation_id=inv_id,
        turn=task.turn,
        index=task.index,
        tool_use_id=task.tool_use_id,
        name=name,
        input=call_input,
        investigation=investigation,
        signal=signal,
        max_output_chars=settings.max_tool_output_chars,
        workspace=WorkspaceSource(
            repo=investigation.repo,
            commit=investigation.commit,
            clone_header=clone_header(investigation),
            snapshot_url=presign("get_object", snapshot_key(inv_id)),
        ),
        result_url=presign("put_object", result_key(inv_id, position_key)),
        snapshot_url=presign("put_object", snapshot_key(inv_id)),
        position=position_key,
    )


@lru_cache(maxsize=64)
def _fixed_facts(investigation_id: str) -> tuple[Investigation, Signal]:
    """The investigation and its signal, which never change after the start."""
    st = stores()
    signal_event = st.events.get(investigation_id, signal_position())
    if not isinstance(signal_event, SignalReceived):
        raise EventNotFound(investigation_id, signal_position())
    return st.investigations.get(investigation_id), signal_event.signal


def clone_header(investigation: Investigation) -> str | None:
    """The header git clones a private repository with: a read-only token from the Repo
    Token function, reused for a while (the sandbox never holds the GitHub credentials)."""
    function = get_settings().repo_token_function
    if not (function and investigation.github_repo and _is_http_url(investigation.repo)):
        return None
    return _clone_header(investigation.investigation_id, int(time.time() // TOKEN_SECONDS))


@lru_cache(maxsize=64)
def _clone_header(investigation_id: str, _period: int) -> str | None:
    resp = aws.client("lambda").invoke(
        FunctionName=get_settings().repo_token_function,
        Payload=RepoTokenRequest(investigation_id=investigation_id).model_dump_json().encode(),
    )
    answer = json.loads(resp["Payload"].read() or b"{}")
    if resp.get("FunctionError"):
        raise TransientError(
            f"the repository token function failed: {answer.get('errorType', 'error')}: "
            f"{answer.get('errorMessage', '')}"
        )
    token = answer.get("token")
    if not token:
        return None
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return f"Authorization: Basic {basic}"


def _is_http_url(source: str) -> bool:
    return source.startswith(("https://", "http://"))


class _Heartbeat:
    """Task heartbeats for the waiting call while its sandbox starts (a Fargate start and a
    clone can take longer than the heartbeat interval)."""

    def __init__(self, task_token: str) -> None:
        self._token = task_token
        self._every = get_settings().sandbox_heartbeat_seconds / 3
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def beat(self) -> None:
        with self._lock:
            if time.monotonic() - self._last < self._every:
                return
            self._last = time.monotonic()
        sfn = aws.client("stepfunctions")
        try:
            sfn.send_task_heartbeat(taskToken=self._token)
        except (sfn.exceptions.TaskTimedOut, sfn.exceptions.InvalidToken):
            logger.info("the waiting call's task ended while its sandbox started")


def _post(record: SandboxRecord, call: SandboxCall) -> None:
    req = urllib.request.Request(
        f"{record.endpoint}/calls",
        data=call.model_dump_json().encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {record.secret}"},
        method="POST",
    )
    try:
        with _OPENER.open(req, timeout=CONNECT_TIMEOUT_S) as resp:
            if resp.status != 202:
                raise OSError(f"sandbox answered {resp.status}")
    except urllib.error.HTTPError as exc:
        raise OSError(f"sandbox answered {exc.code}") from exc
