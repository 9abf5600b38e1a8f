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
from collections.abc import Mapping
from pathlib import Path

from fixloop.config import get_settings
from fixloop.local import patches
from fixloop.local.handlers import PROJECT_ROOT

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


class LocalSandboxes:
    def __init__(self, log_dir: Path | None = None) -> None:
        self.log_dir = log_dir or Path(tempfile.mkdtemp(prefix="fixloop-sandboxes-"))
        self._procs: dict[str, tuple[str, subprocess.Popen[bytes]]] = {}
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
        is bound and listening here and inherited by the process, so two runtimes on one
        machine never pick the same address."""
        investigation = environment.get("FIXLOOP_SANDBOX_INVESTIGATION", "")
        listener = self._listener(get_settings().sandbox_port)
        address = str(listener.getsockname()[0])
        log = (self.log_dir / f"{task_arn.rsplit('/', 1)[-1]}.log").open("wb")
        try:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "fixloop.sandbox",
                    "serve",
                    "--host",
                    address,
                    "--port",
                    str(listener.getsockname()[1]),
                    "--listen-fd",
                    str(listener.fileno()),
                ],
                env={**task_environment(os.environ), **environment},
                cwd=PROJECT_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                pass_fds=(listener.fileno(),),
            )
        finally:
            listener.close()
            log.close()
        with self._lock:
            self._procs[task_arn] = (investigation, proc)
            self.launched += 1
        return address

    def _listener(self, port: int) -> socket.socket:
        """A listening socket on the next free loopback address at ``port``."""
        for _ in range(_LOOPBACK_HOSTS):
            with self._lock:
                self._next_host = self._next_host % _LOOPBACK_HOSTS + 1
                address = f"127.0.{self._next_host // 254}.{self._next_host % 254 + 1}"
            if address == "127.0.0.1":
                continue
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                listener.bind((address, port))
                listener.listen(64)
            except OSError:
                listener.close()
                continue
            return listener
        raise RuntimeError(f"no loopback address is free on port {port} for a sandbox")

    def kill(self, investigation_id: str) -> int:
        """SIGKILL every live sandbox process of an investigation (a lost task). Returns how
        many were killed."""
        with self._lock:
            victims = [p for inv, p in self._procs.values() if inv == investigation_id]
        killed = 0
        for proc in victims:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                killed += 1
        return killed

    def terminate(self, task_arn: str) -> None:
        """StopTask: SIGTERM, then SIGKILL after a grace period, as ECS stops a task (a
        sandbox that does not stop itself, e.g. frozen, is killed)."""
        with self._lock:
            entry = self._procs.get(task_arn)
        if entry is None or entry[1].poll() is not None:
            return
        proc = entry[1]
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
            entry = self._procs.get(task_arn)
        if entry is None:
            return None
        code = entry[1].poll()
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
            return sum(1 for inv, _ in self._procs.values() if inv == investigation_id)

    def running(self, investigation_id: str | None = None) -> int:
        with self._lock:
            procs = [p for inv, p in self._procs.values() if investigation_id in (None, inv)]
        return sum(1 for p in procs if p.poll() is None)

    def stop_all(self) -> None:
        with self._lock:
            procs = [p for _, p in self._procs.values()]
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
