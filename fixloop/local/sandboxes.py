"""Sandbox tasks as local processes: the embedded runtime's Fargate.

The dispatch handler calls ``ecs:RunTask`` exactly as in AWS; moto records the task, and a
hook on it (:mod:`fixloop.local.patches.ecs_tasks`) starts ``python -m fixloop.sandbox serve``
with the task's environment overrides. Like a Fargate task with its own network interface,
each local sandbox gets its own loopback address (``127.0.0.2`` and up) and listens on the
sandbox port there; DescribeTasks reports that address as the task's private IP. StopTask
ends the process. Tests use :meth:`LocalSandboxes.kill` to lose a sandbox mid-call.

A sandbox process gets the environment a Fargate task would have, not this process's: the
AWS endpoint and credentials it answers task tokens with, the ``FIXLOOP_SANDBOX_*`` settings
and the task's overrides. Nothing else of the CLI's environment (model keys, GitHub tokens,
webhook secrets, table names) reaches it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from fixloop.config import get_settings
from fixloop.local import patches
from fixloop.local.handlers import PROJECT_ROOT
from fixloop.local.patches import chaos_sandbox_start

STOP_GRACE_S = 5.0
"""How long a stopped sandbox may take to exit before it is killed (ECS waits 30 s)."""
LOG = logging.getLogger(__name__)
_LOOPBACK_HOSTS = 254 * 16
"""Addresses 127.0.0.2 to 127.0.15.254: far more than the sandboxes one runtime starts."""
_PASSED_ON = (
    "PATH",
    "LANG",
    "LC_ALL",
    "TZ",
    "TMPDIR",
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_ACCOUNT_ID_ENDPOINT_MODE",
    "POWERTOOLS_LOG_LEVEL",
    "POWERTOOLS_TRACE_DISABLED",
    "POWERTOOLS_METRICS_DISABLED",
    "FIXLOOP_FAULT_PLAN",
    "FIXLOOP_FAULT_DIR",
)
"""What a local sandbox gets of the runtime's environment (with ``FIXLOOP_SANDBOX_*``): what
a Fargate task's container has (its region, its way to answer task tokens) and the test
hooks; no key, token or secret of the CLI."""


def task_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """A local sandbox's environment, as a Fargate task's container would have it."""
    kept = {k: v for k, v in environ.items() if k in _PASSED_ON}
    kept |= {k: v for k, v in environ.items() if k.startswith("FIXLOOP_SANDBOX_")}
    kept["POWERTOOLS_SERVICE_NAME"] = "fixloop-sandbox"
    kept["AWS_SDK_UA_APP_ID"] = "fixloop-sandbox"  # its requests say who made them
    return kept


@dataclass
class _Task:
    """A sandbox task: its process, once started (a chaos start delay keeps it None)."""

    investigation: str
    proc: subprocess.Popen[bytes] | None
    ordered_at: float = field(default_factory=time.monotonic)
    delay: float = 0.0
    stopped: bool = False
    """Stopped (or killed) before its process started."""


class LocalSandboxes:
    def __init__(self, log_dir: Path | None = None) -> None:
        self.log_dir = log_dir or Path(tempfile.mkdtemp(prefix="fixloop-sandboxes-"))
        self._tasks: dict[str, _Task] = {}
        self._lock = threading.Lock()
        self._next_host = 0
        self._reported: set[str] = set()
        self.launched = 0

    def install(self) -> None:
        """Start and stop local processes for the tasks ECS RunTask/StopTask start and stop
        (moto's ECS backend, hooked by :mod:`fixloop.local.patches.ecs_tasks`)."""
        patches.set_task_hooks(self.start, self.terminate, self.status)

    def start(self, task_arn: str, environment: dict[str, str]) -> str:
        """Start the task's sandbox process; returns the address it listens on. The socket
        is bound here and inherited by the process, so two runtimes on one machine never pick
        the same address. With a chaos start delay (:mod:`fixloop.local.patches
        .chaos_sandbox_start`) the process starts that much later, and the address refuses
        connections until then."""
        investigation = environment.get("FIXLOOP_SANDBOX_INVESTIGATION", "")
        socket_ = self._bound(get_settings().sandbox_port)
        address = str(socket_.getsockname()[0])
        delay = chaos_sandbox_start.start_delay()
        with self._lock:
            self._tasks[task_arn] = _Task(investigation, None, delay=delay)
            self.launched += 1
        if delay <= 0:
            self._spawn(task_arn, socket_, environment)
        else:
            timer = threading.Timer(delay, self._spawn, args=(task_arn, socket_, environment))
            timer.daemon = True
            timer.start()
        return address

    def _spawn(self, task_arn: str, socket_: socket.socket, environment: dict[str, str]) -> None:
        """Start the task's process on its bound socket (unless it was stopped meanwhile)."""
        with self._lock:
            task = self._tasks[task_arn]
            if task.stopped:
                socket_.close()
                return
        log = (self.log_dir / f"{task_arn.rsplit('/', 1)[-1]}.log").open("wb")
        try:
            socket_.listen(64)
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "fixloop.sandbox",
                    "serve",
                    "--host",
                    str(socket_.getsockname()[0]),
                    "--port",
                    str(socket_.getsockname()[1]),
                    "--listen-fd",
                    str(socket_.fileno()),
                ],
                env={**task_environment(os.environ), **environment},
                cwd=PROJECT_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                pass_fds=(socket_.fileno(),),
            )
        finally:
            socket_.close()
            log.close()
        with self._lock:
            task.proc = proc
            stopped_meanwhile = task.stopped
        if stopped_meanwhile:  # stopped while the process was being started
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def _bound(self, port: int) -> socket.socket:
        """A socket bound (not yet listening) on the next free loopback address at ``port``."""
        for _ in range(_LOOPBACK_HOSTS):
            with self._lock:
                self._next_host = self._next_host % _LOOPBACK_HOSTS + 1
                address = f"127.0.{self._next_host // 254}.{self._next_host % 254 + 1}"
            if address == "127.0.0.1":
                continue
            bound = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                bound.bind((address, port))
            except OSError:
                bound.close()
                continue
            return bound
        raise RuntimeError(f"no loopback address is free on port {port} for a sandbox")

    def _processes(self, investigation_id: str | None = None) -> list[subprocess.Popen[bytes]]:
        with self._lock:
            return [
                t.proc
                for t in self._tasks.values()
                if t.proc is not None and investigation_id in (None, t.investigation)
            ]

    def kill(self, investigation_id: str) -> int:
        """SIGKILL every live sandbox process of an investigation (a lost task); a task still
        starting never starts. Returns how many processes were killed."""
        with self._lock:
            for task in self._tasks.values():
                if task.investigation == investigation_id and task.proc is None:
                    task.stopped = True
        killed = 0
        for proc in self._processes(investigation_id):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                killed += 1
        return killed

    def terminate(self, task_arn: str) -> None:
        """StopTask: SIGTERM, then SIGKILL after a grace period, as ECS stops a task (a
        sandbox that does not stop itself, e.g. frozen, is killed). A task still starting
        never starts."""
        with self._lock:
            task = self._tasks.get(task_arn)
            if task is not None and task.proc is None:
                task.stopped = True
        if task is None or task.proc is None or task.proc.poll() is not None:
            return
        proc = task.proc
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)

        def kill_if_alive() -> None:
            try:
                proc.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

        threading.Thread(target=kill_if_alive, daemon=True).start()

    def status(self, task_arn: str) -> str | None:
        """The task's ECS status as its process tells it (None: not a sandbox task). A
        process that failed is reported once, with the end of its log."""
        with self._lock:
            task = self._tasks.get(task_arn)
        if task is None:
            return None
        if task.proc is None:
            if task.stopped:
                return "STOPPED"
            waited = time.monotonic() - task.ordered_at
            return chaos_sandbox_start.pending_status(waited, task.delay)
        code = task.proc.poll()
        if code is None:
            return "RUNNING"
        if code not in (0, 143, -15, -9) and task_arn not in self._reported:
            self._reported.add(task_arn)
            log = self.log_dir / f"{task_arn.rsplit('/', 1)[-1]}.log"
            tail = log.read_bytes()[-4000:].decode(errors="replace") if log.exists() else ""
            LOG.warning("sandbox task %s exited with %s:\n%s", task_arn, code, tail)
        return "STOPPED"

    def launched_for(self, investigation_id: str) -> int:
        with self._lock:
            return sum(1 for t in self._tasks.values() if t.investigation == investigation_id)

    def running(self, investigation_id: str | None = None) -> int:
        return sum(1 for p in self._processes(investigation_id) if p.poll() is None)

    def stop_all(self) -> None:
        with self._lock:
            for task in self._tasks.values():
                if task.proc is None:
                    task.stopped = True
        procs = self._processes()
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        shutil.rmtree(self.log_dir, ignore_errors=True)
