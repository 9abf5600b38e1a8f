"""Sandbox tasks as local processes: the embedded runtime's Fargate.

The dispatch handler calls ``ecs:RunTask`` exactly as in AWS; moto records the task, and this
hook starts ``python -m fixloop.sandbox serve`` with the task's environment overrides. StopTask
ends the process. Tests use :meth:`LocalSandboxes.kill` to lose a sandbox mid-call.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from fixloop.local.handlers import PROJECT_ROOT


class LocalSandboxes:
    def __init__(self, log_dir: Path | None = None) -> None:
        self.log_dir = log_dir or Path(tempfile.mkdtemp(prefix="fixloop-sandboxes-"))
        self._procs: dict[str, tuple[str, subprocess.Popen[bytes]]] = {}
        self._lock = threading.Lock()
        self.launched = 0

    def install(self) -> None:
        """Hook moto's ECS backend so RunTask/StopTask start and stop local processes."""
        from moto.ecs.models import EC2ContainerServiceBackend

        original_run = getattr(EC2ContainerServiceBackend.run_task, "__wrapped__", None) or (
            EC2ContainerServiceBackend.run_task
        )
        original_stop = getattr(EC2ContainerServiceBackend.stop_task, "__wrapped__", None) or (
            EC2ContainerServiceBackend.stop_task
        )
        sandboxes = self

        def run_task(backend: Any, *args: Any, **kwargs: Any) -> Any:
            tasks = original_run(backend, *args, **kwargs)
            overrides = kwargs.get("overrides") if "overrides" in kwargs else args[3]
            env = {
                e["name"]: e["value"]
                for c in (overrides or {}).get("containerOverrides", [])
                for e in c.get("environment", [])
            }
            for task in tasks:
                sandboxes.start(task.task_arn, env)
            return tasks

        def stop_task(backend: Any, cluster_str: str, task_str: str, reason: str) -> Any:
            task = original_stop(backend, cluster_str, task_str, reason)
            sandboxes.terminate(task.task_arn)
            return task

        run_task.__wrapped__ = original_run  # type: ignore[attr-defined]
        stop_task.__wrapped__ = original_stop  # type: ignore[attr-defined]
        EC2ContainerServiceBackend.run_task = run_task  # type: ignore[method-assign,assignment]
        EC2ContainerServiceBackend.stop_task = stop_task  # type: ignore[method-assign,assignment]

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
