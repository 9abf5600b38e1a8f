"""The sandbox: serves one investigation's code tool calls from a warm workspace.

It is the same program in a Fargate task and in a local process, and it sits on the
untrusted side of the boundary: the model's commands run here. It reads and writes no table
and holds no credentials but its task's right to answer task tokens. Each call
(``POST /calls``, from the dispatcher only) carries what it needs; the sandbox runs calls one
at a time against the workspace, puts each result where the call's pre-signed URL says, and
answers the call's task token. While a call runs it sends task heartbeats, so Step Functions
notices a dead sandbox.

A mutating call is journaled into the workspace snapshot (pre-signed PUT) *before* its
result is put: a replacement sandbox restores the snapshot, finds the call in the journal,
and returns the journaled result instead of applying it again.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import queue
import shutil
import socket
import tempfile
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger
from pydantic import ValidationError

from fixloop import aws, faults
from fixloop.config import get_settings
from fixloop.errors import ConfigError, TransientError
from fixloop.httpserver import QuietHTTPServer
from fixloop.sandbox.protocol import SandboxCall, SandboxResult, WorkspaceSource
from fixloop.sandbox.tools import SandboxContext, sandbox_registry
from fixloop.sandbox.verification import VERIFY_FIX
from fixloop.sandbox.workspace import AppliedCall, Snapshot, Workspace
from fixloop.tools.calls import Call
from fixloop.tools.execution import run_call

logger = Logger(service="fixloop-sandbox")

MAX_CALL_BYTES = 64 * 1024 * 1024
"""A call carries the signal (bounded at intake) and the tool input: far below this."""
MAX_SNAPSHOT_BYTES = 512 * 1024 * 1024
TRANSFER_TIMEOUT_S = 120
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # S3 is reached directly


class SandboxServer:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        workdir: Path | None = None,
        listen_fd: int | None = None,
    ):
        settings = get_settings()
        if not (settings.sandbox_investigation and settings.sandbox_id):
            raise ConfigError("FIXLOOP_SANDBOX_INVESTIGATION and FIXLOOP_SANDBOX_ID must be set")
        self.investigation_id = settings.sandbox_investigation
        self.sandbox_id = settings.sandbox_id
        self.secret = settings.sandbox_secret
        self.heartbeat_s = settings.sandbox_heartbeat_seconds / 3
        self.idle_s = settings.sandbox_idle_seconds
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="fixloop-sandbox-"))
        self._calls: queue.Queue[SandboxCall] = queue.Queue()
        self._tokens: dict[str, set[str]] = {}
        self._tokens_lock = threading.Lock()
        self._stop = threading.Event()
        if listen_fd is None:
            self._httpd = QuietHTTPServer((host, port), _handler_for(self))
        else:  # a socket its launcher bound and handed down (no race for the address)
            self._httpd = QuietHTTPServer((host, port), _handler_for(self), bind_and_activate=False)
            self._httpd.socket.close()
            self._httpd.socket = socket.socket(fileno=listen_fd)
            self._httpd.server_address = self._httpd.socket.getsockname()
        self._httpd.daemon_threads = True
        self.workspace: Workspace | None = None
        self.registry = sandbox_registry()
        self.registry.register(VERIFY_FIX)  # fixloop's own operation, never the model's

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._httpd.server_address[:2]
        return str(host), int(port)

    # -- lifecycle ---------------------------------------------------------------------
    def serve(self) -> str:
        """Run until idle or stopped. Returns why it stopped."""
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        logger.info("sandbox ready", extra={"address": self.address, "id": self.sandbox_id})
        threading.Thread(target=self._heartbeats, daemon=True).start()
        reason = "terminated"
        try:
            reason = self._loop()
        finally:
            self._shutdown(reason)
        return reason

    def _loop(self) -> str:
        idle_since = time.monotonic()
        while not self._stop.is_set():
            try:
                call = self._calls.get(timeout=min(self.heartbeat_s, 1.0))
            except queue.Empty:
                if time.monotonic() - idle_since > self.idle_s:
                    return "idle"
                continue
            self._run(call)
            idle_since = time.monotonic()
        return self._stop_reason

    _stop_reason = "stopped"

    def stop(self, reason: str) -> None:
        self._stop_reason = reason
        self._stop.set()

    def _shutdown(self, reason: str) -> None:
        logger.info("sandbox stopping", extra={"reason": reason})
        self._stop.set()
        self._httpd.shutdown()
        shutil.rmtree(self.workdir, ignore_errors=True)  # the workspace goes with its sandbox

    def _heartbeats(self) -> None:
        """Answer task heartbeats for the calls accepted and not yet answered."""
        sfn = aws.client("stepfunctions")
        while not self._stop.wait(self.heartbeat_s):
            with self._tokens_lock:
                tokens = [t for ts in self._tokens.values() for t in ts]
            for token in tokens:
                # TaskTimedOut: a retried dispatch already brought a newer token
                with contextlib.suppress(sfn.exceptions.TaskTimedOut, sfn.exceptions.InvalidToken):
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
        workspace = self._workspace(call.workspace)
        outcome = run_call(
            Call(index=call.index, id=call.tool_use_id, name=call.name, input=call.input),
            registry=self.registry,
            context=lambda: SandboxContext(
                investigation=call.investigation,
                signal=call.signal,
                max_output_chars=call.max_output_chars,
                workspace=workspace,
            ),
            journal=_SnapshotJournal(workspace, call.snapshot_url),
            key=call.key,
        )
        result = SandboxResult(
            content=outcome.content,
            is_error=outcome.is_error,
            duration_ms=outcome.duration_ms,
            mutating=outcome.mutating,
        )
        _put(call.result_url, result.model_dump_json().encode())

    def _workspace(self, source: WorkspaceSource) -> Workspace:
        """The workspace, opened on the first call: the latest snapshot restored, or a fresh
        clone at the investigated commit."""
        if self.workspace is None:
            root = self.workdir / "workspace"
            data = _get(source.snapshot_url) if source.snapshot_url else None
            if data is not None:
                snapshot = Snapshot.model_validate_json(data)
                logger.info("restoring workspace", extra={"applied": len(snapshot.applied)})
                self.workspace = Workspace.restore(
                    root, source.repo, snapshot, auth_header=source.clone_header
                )
            else:
                self.workspace = Workspace.create(
                    root, source.repo, source.commit, auth_header=source.clone_header
                )
        return self.workspace

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


class _SnapshotJournal:
    """Mutating calls journaled in the workspace snapshot, put before the result: a
    replacement sandbox restores it and returns the result instead of applying the call
    again."""

    def __init__(self, workspace: Workspace, snapshot_url: str) -> None:
        self._workspace = workspace
        self._url = snapshot_url

    def applied(self, key: str) -> tuple[str, bool] | None:
        found = self._workspace.applied_result(key)
        return None if found is None else (found.content, found.is_error)

    def record(self, key: str, content: str, is_error: bool) -> None:
        self._workspace.record(key, AppliedCall(content=content, is_error=is_error))
        _put(self._url, self._workspace.snapshot().model_dump_json().encode())
        faults.crash_point("after_snapshot")  # tests: lost before the result is put


def _put(url: str, data: bytes) -> None:
    # A Content-Type of its own: urllib would send a form's, and a server that parses forms
    # (moto's, on the embedded runtime) takes the body for one.
    request = urllib.request.Request(
        url, data=data, method="PUT", headers={"Content-Type": "application/json"}
    )
    try:
        with _OPENER.open(request, timeout=TRANSFER_TIMEOUT_S) as resp:
            resp.read()
    except (urllib.error.URLError, OSError) as exc:
        raise TransientError(f"cannot store the call's output: {exc}") from exc


def _get(url: str) -> bytes | None:
    """The object behind a pre-signed GET; None when there is none (404)."""
    try:
        with _OPENER.open(url, timeout=TRANSFER_TIMEOUT_S) as resp:
            data = bytes(resp.read(MAX_SNAPSHOT_BYTES + 1))
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise TransientError(f"cannot read the workspace snapshot: HTTP {exc.code}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise TransientError(f"cannot read the workspace snapshot: {exc}") from exc
    if len(data) > MAX_SNAPSHOT_BYTES:
        raise TransientError(f"the workspace snapshot is over {MAX_SNAPSHOT_BYTES} bytes")
    return data


def _handler_for(server: SandboxServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if self.path != "/calls":
                self._reply(404, {"error": "not found"})
                return
            if not server.secret or not hmac.compare_digest(
                self.headers.get("Authorization", ""), f"Bearer {server.secret}"
            ):
                self._reply(401, {"error": "calls come from the dispatcher only"})
                return
            declared = self.headers.get("Content-Length") or ""
            if not declared.isdigit() or int(declared) > MAX_CALL_BYTES:
                self._reply(413, {"error": f"a call is at most {MAX_CALL_BYTES} bytes"})
                return
            try:
                call = SandboxCall.model_validate_json(self.rfile.read(int(declared)))
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
                self._reply(
                    200,
                    {"sandbox_id": server.sandbox_id, "workspace": server.workspace is not None},
                )
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


__all__ = ["SandboxServer"]
