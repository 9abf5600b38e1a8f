"""Sandbox tasks as local processes: the embedded runtime's Fargate.

The dispatch handler calls ``ecs:RunTask`` exactly as in AWS; moto records the task, and a
hook on it (:mod:`fixloop.local.patches.ecs_tasks`) starts ``python -m fixloop.sandbox serve``
with the task's environment overrides. StopTask ends the process. Tests use
:meth:`LocalSandboxes.kill` to lose a sandbox mid-call.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from fixloop.local import patches
from fixloop.local.handlers import PROJECT_ROOT


class LocalSandboxes:
    def __init__(self, log_dir: Path | None = None) -> None:
        self.log_dir = log_dir or Path(tempfile.mkdtemp(prefix="fixloop-sandboxes-"))
        self._procs: dict[str, tuple[str, subprocess.Popen[bytes]]] = {}
        self._lock = threading.Lock()
        self.launched = 0

    def install(self) -> None:
        """Start and stop local processes for the tasks ECS RunTask/StopTask start and stop
        (moto's ECS backend, hooked by :mod:`fixloop.local.patches.ecs_tasks`)."""
        patches.set_task_hooks(self.start, self.terminate)

    def start(self, task_arn: str, environment: dict[str, str]) -> None:
        investigation = environment.get("FIXLOOP_SANDBOX_INVESTIGATION", "")
        log = (self.log_dir / f"{task_arn.rsplit('/', 1)[-1]}.log").open("wb")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fixloop.sandbox",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
            ],
            env={**os.environ, **environment},
            cwd=PROJECT_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        with self._lock:
            self._procs[task_arn] = (investigation, proc)
            self.launched += 1

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
        with self._lock:
            entry = self._procs.get(task_arn)
        if entry is not None and entry[1].poll() is None:
            entry[1].terminate()

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
