"""The sandbox: serves one investigation's code tool calls from a warm workspace.

It is the same program in a Fargate task and in a local process. It registers its endpoint
in the Sandboxes table, accepts calls over HTTP (``POST /calls``), runs them one at a time
against the workspace, writes each result into the event log, and answers the call's task
token. While a call runs it sends task heartbeats, so Step Functions notices a dead sandbox.

A mutating call is journaled into the workspace snapshot in S3 *before* its result is
written: a replacement sandbox restores the snapshot, finds the call in the journal, and
returns the journaled result instead of applying it again.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger
from pydantic import ValidationError

from fixloop import aws, faults
from fixloop.config import get_settings
from fixloop.domain import Investigation, Signal
from fixloop.domain.events import SignalReceived, signal_position
from fixloop.errors import ConfigError
from fixloop.httpserver import QuietHTTPServer
from fixloop.sandbox.protocol import SandboxCall
from fixloop.sandbox.repo_access import clone_header
from fixloop.sandbox.snapshots import SnapshotStore
from fixloop.sandbox.tools import SandboxContext, sandbox_registry
from fixloop.sandbox.workspace import AppliedCall, Workspace
from fixloop.store import stores
from fixloop.tools.execution import execute

logger = Logger(service="fixloop-sandbox")


class SandboxServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, workdir: Path | None = None):
        settings = get_settings()
        if not (settings.sandbox_investigation and settings.sandbox_id):
            raise ConfigError("FIXLOOP_SANDBOX_INVESTIGATION and FIXLOOP_SANDBOX_ID must be set")
        self.investigation_id = settings.sandbox_investigation
        self.sandbox_id = settings.sandbox_id
        self.heartbeat_s = settings.sandbox_heartbeat_seconds / 3
        self.idle_s = settings.sandbox_idle_seconds
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="fixloop-sandbox-"))
        self._calls: queue.Queue[SandboxCall] = queue.Queue()
        self._tokens: dict[str, set[str]] = {}
        self._tokens_lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd = QuietHTTPServer((host, port), _handler_for(self))
        self._httpd.daemon_threads = True
        self.snapshots = SnapshotStore(stores().blobs, stores().sandboxes)
        self.workspace: Workspace | None = None
        self.registry = sandbox_registry()
        self._facts: tuple[Investigation, Signal] | None = None

    # -- lifecycle ---------------------------------------------------------------------
    def serve(self) -> str:
        """Run until idle, until the investigation closes, or until replaced. Returns why."""
        st = stores()
        inv = st.investigations.get(self.investigation_id)
        signal = st.events.get(self.investigation_id, signal_position())
        if not isinstance(signal, SignalReceived):
            raise LookupError(f"investigation {self.investigation_id} has no signal")
        # What tools read of these (repo, commit, signal) never changes: read them once.
        self._facts = (inv, signal.signal)
        self.workspace = self._open_workspace(inv)
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        endpoint = f"http://{_advertised_host(self._httpd)}:{self._httpd.server_address[1]}"
        if not st.sandboxes.update(
            self.investigation_id, self.sandbox_id, status="ready", endpoint=endpoint
        ):
            return self._shutdown("replaced before it was ready")
        logger.info("sandbox ready", extra={"endpoint": endpoint, "sandbox_id": self.sandbox_id})
        threading.Thread(target=self._heartbeats, daemon=True).start()
        idle_since = time.monotonic()
        while not self._stop.is_set():
            try:
                call = self._calls.get(timeout=min(self.heartbeat_s, 1.0))
            except queue.Empty:
                if time.monotonic() - idle_since > self.idle_s:
                    return self._shutdown("idle")
                continue
            self._run(call)
            idle_since = time.monotonic()
        return self._shutdown(self._stop_reason)

    _stop_reason = "stopped"

    def stop(self, reason: str) -> None:
        self._stop_reason = reason
        self._stop.set()

    def _shutdown(self, reason: str) -> str:
        logger.info("sandbox stopping", extra={"reason": reason})
        stores().sandboxes.update(self.investigation_id, self.sandbox_id, status="stopped")
        self._httpd.shutdown()
        return reason

    def _open_workspace(self, inv: Investigation) -> Workspace:
        root = self.workdir / "workspace"
        auth_header = clone_header(inv)
        snapshot = self.snapshots.load(self.investigation_id)
        if snapshot is not None:
            logger.info("restoring workspace", extra={"applied": len(snapshot.applied)})
            return Workspace.restore(root, inv.repo, snapshot, auth_header=auth_header)
        return Workspace.create(root, inv.repo, inv.commit, auth_header=auth_header)

    def _heartbeats(self) -> None:
        """Keep the registration fresh, answer task heartbeats, notice the end."""
        st = stores()
        sfn = aws.client("stepfunctions")
        while not self._stop.wait(self.heartbeat_s):
            if not st.sandboxes.update(self.investigation_id, self.sandbox_id):
                self.stop("replaced by another sandbox")
                return
            if not st.investigations.get(self.investigation_id).is_open:
                self.stop("the investigation is closed")
                return
            with self._tokens_lock:
                tokens = [t for ts in self._tokens.values() for t in ts]
            for token in tokens:
                # TaskTimedOut: a retried dispatch already brought a newer token
                with contextlib.suppress(sfn.exceptions.TaskTimedOut):
                    sfn.send_task_heartbeat(taskToken=token)

    # -- calls ---------------------------------------------------------------------------
    def accept(self, call: SandboxCall) -> None:
        with self._tokens_lock:
            known = call.key in self._tokens
            self._tokens.setdefault(call.key, set()).add(call.task_token)
        if not known:
            self._calls.put(call)

    def _run(self, call: SandboxCall) -> None:
        try:
            self._execute(call)
        except Exception as exc:  # infrastructure failure: let the state machine retry
            logger.exception("tool call failed", extra={"key": call.key})
            self._answer(call, error=exc)
        else:
            self._answer(call)

    def _execute(self, call: SandboxCall) -> None:
        assert self.workspace is not None and self._facts is not None  # set by serve()
        investigation, signal = self._facts
        workspace = self.workspace
        execute(
            call.investigation_id,
            call.turn,
            call.index,
            call.tool_use_id,
            registry=self.registry,
            context=lambda: SandboxContext(
                investigation=investigation,
                signal=signal,
                max_output_chars=get_settings().max_tool_output_chars,
                workspace=workspace,
            ),
            journal=_WorkspaceJournal(self),
            key=call.key,
        )

    def _answer(self, call: SandboxCall, error: Exception | None = None) -> None:
        with self._tokens_lock:
            tokens = self._tokens.pop(call.key, {call.task_token})
        sfn = aws.client("stepfunctions")
        for token in tokens:
            try:
                if error is None:
                    sfn.send_task_success(
                        taskToken=token, output=json.dumps({"tool_use_id": call.tool_use_id})
                    )
                else:
                    sfn.send_task_failure(
                        taskToken=token, error=type(error).__name__, cause=str(error)[:32_000]
                    )
            except (sfn.exceptions.TaskTimedOut, sfn.exceptions.InvalidToken):
                logger.info("task token no longer open", extra={"key": call.key})


class _WorkspaceJournal:
    """Mutating calls journaled in the workspace snapshot, saved to S3 before the result is
    written: a replacement sandbox restores it and returns the result instead of applying
    the call again."""

    def __init__(self, server: SandboxServer) -> None:
        self._server = server

    def applied(self, key: str) -> tuple[str, bool] | None:
        assert self._server.workspace is not None
        found = self._server.workspace.applied_result(key)
        return None if found is None else (found.content, found.is_error)

    def record(self, key: str, content: str, is_error: bool) -> None:
        server = self._server
        assert server.workspace is not None
        server.workspace.record(key, AppliedCall(content=content, is_error=is_error))
        server.snapshots.save(server.investigation_id, server.workspace.snapshot())
        faults.crash_point("after_snapshot")  # tests: lost before the result is written


def _handler_for(server: SandboxServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if self.path != "/calls":
                self._reply(404, {"error": "not found"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            try:
                call = SandboxCall.model_validate_json(self.rfile.read(length))
            except ValidationError as exc:
                self._reply(400, {"error": str(exc)})
                return
            if call.investigation_id != server.investigation_id:
                self._reply(409, {"error": "this sandbox serves another investigation"})
                return
            server.accept(call)
            self._reply(202, {"accepted": call.key})

        def do_GET(self) -> None:
            if self.path == "/health":
                self._reply(200, {"sandbox_id": server.sandbox_id})
            else:
                self._reply(404, {"error": "not found"})

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return  # requests are logged by the worker, not per HTTP line

    return Handler


def _advertised_host(httpd: ThreadingHTTPServer) -> str:
    """The address the dispatcher reaches: the task's private IP on Fargate (from the ECS
    task metadata endpoint), else the address bound."""
    metadata = os.environ.get("ECS_CONTAINER_METADATA_URI_V4")
    if metadata:
        with urllib.request.urlopen(f"{metadata}/task", timeout=2) as resp:
            task = json.load(resp)
        return str(task["Containers"][0]["Networks"][0]["IPv4Addresses"][0])
    host = str(httpd.server_address[0])
    return "127.0.0.1" if host in ("0.0.0.0", "") else host
