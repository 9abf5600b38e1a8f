"""Gap 7: ECS ``RunTask`` in moto records a task but runs no container.

``moto.ecs.models.EC2ContainerServiceBackend.run_task`` and ``stop_task`` are wrapped so that
the hooks given to :func:`set_task_hooks` see each task: RunTask calls
``on_run(task_arn, environment)`` with the environment overrides of the task's containers
(the embedded runtime starts a local sandbox process from them), StopTask calls
``on_stop(task_arn)``. Without hooks, moto behaves as it does.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from fixloop.local.patches.internals import Replacement, require_class

OnRun = Callable[[str, dict[str, str]], None]
OnStop = Callable[[str], None]

_MODELS = "moto.ecs.models"


class _Hooks:
    on_run: OnRun | None = None
    on_stop: OnStop | None = None


_hooks = _Hooks()


def set_task_hooks(on_run: OnRun | None, on_stop: OnStop | None) -> None:
    """Call ``on_run``/``on_stop`` for every task RunTask starts and StopTask stops."""
    _hooks.on_run, _hooks.on_stop = on_run, on_stop


def replacements() -> list[Replacement]:
    backend = require_class(_MODELS, "EC2ContainerServiceBackend", "run_task", "stop_task")
    original_run = backend.run_task
    original_stop = backend.stop_task
    run_signature = inspect.signature(original_run)
    if "overrides" not in run_signature.parameters:
        raise RuntimeError(
            f"moto internals changed: {_MODELS}.EC2ContainerServiceBackend.run_task takes no "
            "'overrides' (fixloop.local.patches targets its 5.2.5 signature)"
        )

    def run_task(self: Any, *args: Any, **kwargs: Any) -> Any:
        tasks = original_run(self, *args, **kwargs)
        on_run = _hooks.on_run
        if on_run is not None:
            overrides = run_signature.bind(self, *args, **kwargs).arguments.get("overrides")
            environment = {
                entry["name"]: entry["value"]
                for container in (overrides or {}).get("containerOverrides", [])
                for entry in container.get("environment", [])
            }
            for task in tasks:
                on_run(task.task_arn, environment)
        return tasks

    def stop_task(self: Any, cluster_str: str, task_str: str, reason: str) -> Any:
        task = original_stop(self, cluster_str, task_str, reason)
        on_stop = _hooks.on_stop
        if on_stop is not None:
            on_stop(task.task_arn)
        return task

    return [
        Replacement(backend, "run_task", run_task),
        Replacement(backend, "stop_task", stop_task),
    ]
