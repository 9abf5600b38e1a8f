"""Dispatch Tool: hand a code tool call to the investigation's sandbox.

The Map item waits on a task token (``lambda:invoke.waitForTaskToken``); this step only
finds a live sandbox (starting one if needed) and passes it the call and the token. The
sandbox runs the call, writes the result to the log and answers the token. If the sandbox
dies, its heartbeats stop, the task times out, and the retry lands here again: the dead
sandbox is replaced and the new one restores the workspace from its S3 snapshot.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from datetime import timedelta

from aws_lambda_powertools import Logger

from fixloop import aws
from fixloop.config import get_settings
from fixloop.domain.signal import utcnow
from fixloop.errors import SandboxUnavailable
from fixloop.sandbox.launcher import launch
from fixloop.sandbox.protocol import SandboxCall
from fixloop.store import stores
from fixloop.store.sandboxes import SandboxRecord, stale_after

logger = Logger(child=True)
CONNECT_TIMEOUT_S = 5.0
POLL_S = 0.2
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # sandboxes are private


def dispatch_tool(call: SandboxCall) -> dict[str, object]:
    st = stores()
    if st.events.get(call.investigation_id, call.key) is not None:
        # A retry after the sandbox wrote the result but before the token was answered.
        aws.client("stepfunctions").send_task_success(
            taskToken=call.task_token, output=json.dumps({"tool_use_id": call.tool_use_id})
        )
        return {"tool_use_id": call.tool_use_id, "dispatched": False}
    for _ in range(3):
        record = ensure_sandbox(call.investigation_id)
        try:
            _post(record.endpoint, call)
        except OSError as exc:
            logger.warning(
                "sandbox unreachable; replacing it",
                extra={"sandbox_id": record.sandbox_id, "error": str(exc)},
            )
            st.sandboxes.update(call.investigation_id, record.sandbox_id, status="lost")
            continue
        return {"tool_use_id": call.tool_use_id, "sandbox_id": record.sandbox_id}
    raise SandboxUnavailable(f"no reachable sandbox for {call.investigation_id}")


def ensure_sandbox(investigation_id: str) -> SandboxRecord:
    """The investigation's live sandbox; starts one (exactly one, across concurrent
    dispatchers) when there is none or the last one stopped or went silent."""
    settings = get_settings()
    st = stores()
    heartbeat_s = settings.sandbox_heartbeat_seconds / 3
    launch_window = timedelta(seconds=settings.sandbox_launch_timeout_seconds)
    deadline = time.monotonic() + settings.sandbox_launch_timeout_seconds
    while True:
        record = st.sandboxes.get(investigation_id)
        now = utcnow()
        live_for = (
            stale_after(heartbeat_s) if record and record.status == "ready" else launch_window
        )
        if record is not None and record.status == "ready" and record.alive(now, live_for):
            return record
        if record is not None and record.status == "starting" and record.alive(now, live_for):
            if time.monotonic() > deadline:
                raise SandboxUnavailable(f"sandbox {record.sandbox_id} did not start in time")
            time.sleep(POLL_S)
            continue
        sandbox_id = uuid.uuid4().hex
        replacing = record.sandbox_id if record is not None else None
        if st.sandboxes.claim(investigation_id, sandbox_id, replacing):
            logger.info(
                "starting a sandbox", extra={"sandbox_id": sandbox_id, "replacing": replacing}
            )
            try:
                task_arn = launch(investigation_id, sandbox_id)
            except Exception:
                st.sandboxes.update(investigation_id, sandbox_id, status="lost")
                raise
            st.sandboxes.update(investigation_id, sandbox_id, task_arn=task_arn)


def _post(endpoint: str, call: SandboxCall) -> None:
    req = urllib.request.Request(
        f"{endpoint}/calls",
        data=call.model_dump_json().encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with _OPENER.open(req, timeout=CONNECT_TIMEOUT_S) as resp:
            if resp.status != 202:
                raise OSError(f"sandbox answered {resp.status}")
    except urllib.error.HTTPError as exc:
        raise OSError(f"sandbox answered {exc.code}") from exc
