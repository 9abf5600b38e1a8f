"""Gap 7: ECS ``RunTask`` in moto records a task but runs no container.

``moto.ecs.models.EC2ContainerServiceBackend.run_task`` and ``stop_task`` are wrapped so that
the hooks given to :func:`set_task_hooks` see each task: RunTask calls
``on_run(task_arn, environment)`` with the environment overrides of the task's containers
(the embedded runtime starts a local sandbox process from them); the address it returns
becomes the task's private IP, where DescribeTasks reports a Fargate task's (its ENI
attachment's ``privateIPv4Address``), so the dispatcher finds a local sandbox as it finds a
Fargate one. StopTask calls ``on_stop(task_arn)``. A task's ``lastStatus`` is the local
process's (``RUNNING`` while it lives, ``STOPPED`` after) through ``status(task_arn)``, where
moto would advance its simulated lifecycle one step at every DescribeTasks and report a
running sandbox as STOPPED after a few looks. Without hooks, moto behaves as it does.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from fixloop.local.patches.internals import Replacement, require_class

OnRun = Callable[[str, dict[str, str]], str | None]
OnStop = Callable[[str], None]
Status = Callable[[str], str | None]

_MODELS = "moto.ecs.models"


class _Hooks:
    on_run: OnRun | None = None
    on_stop: OnStop | None = None
    status: Status | None = None


_hooks = _Hooks()


Hooks = tuple[OnRun | None, OnStop | None, Status | None]


def set_task_hooks(
    on_run: OnRun | None, on_stop: OnStop | None, status: Status | None = None
) -> Hooks:
    """Call ``on_run``/``on_stop`` for every task RunTask starts and StopTask stops; ask
    ``status`` for a task's last status (None: moto's own). Returns the hooks they replace
    (they are process-wide: whoever borrows them puts them back)."""
    previous = (_hooks.on_run, _hooks.on_stop, _hooks.status)
    _hooks.on_run, _hooks.on_stop, _hooks.status = on_run, on_stop, status
    return previous


def replacements() -> list[Replacement]:
    backend = require_class(_MODELS, "EC2ContainerServiceBackend", "run_task", "stop_task")
    task_class = require_class(_MODELS, "Task", "last_status")
    own_status = task_class.last_status
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
                address = on_run(task.task_arn, environment)
                if address:
                    _set_private_ip(task, address)
        return tasks

    def stop_task(self: Any, cluster_str: str, task_str: str, reason: str) -> Any:
        task = original_stop(self, cluster_str, task_str, reason)
        on_stop = _hooks.on_stop
        if on_stop is not None:
            on_stop(task.task_arn)
        return task

    def last_status(self: Any) -> str:
        status = _hooks.status
        found = status(self.task_arn) if status is not None else None
        return found if found is not None else str(own_status.fget(self))

    return [
        Replacement(backend, "run_task", run_task),
        Replacement(backend, "stop_task", stop_task),
        Replacement(task_class, "last_status", property(last_status, own_status.fset)),
    ]


def _set_private_ip(task: Any, address: str) -> None:
    for attachment in getattr(task, "attachments", []):
        for detail in attachment.get("details", []):
            if detail.get("name") == "privateIPv4Address":
                detail["value"] = address
