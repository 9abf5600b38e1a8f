"""Fault injection for tests: make a step raise once, before or after its writes.

The plan comes from ``FIXLOOP_FAULT_PLAN``: comma-separated ``step:point`` entries, where
point is ``before`` (on entry, nothing written yet) or ``after`` (its writes done, before
it returns). Each entry fires once per process. Empty in production; the only cost then is
reading a setting.

``sandbox:<point>`` entries make a sandbox process die on the spot at :func:`crash_point`,
like a killed task, once across processes (a marker file in ``FIXLOOP_FAULT_DIR``), so the
replacement sandbox gets past it.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from fixloop.config import get_settings
from fixloop.errors import InjectedFault

F = TypeVar("F", bound=Callable[..., Any])
_fired: set[str] = set()
_lock = threading.Lock()


def _maybe_fail(step: str, point: str) -> None:
    plan = get_settings().fault_plan
    if not plan:
        return
    entry = f"{step}:{point}"
    if entry not in {p.strip() for p in plan.split(",")}:
        return
    with _lock:
        if entry in _fired:
            return
        _fired.add(entry)
    raise InjectedFault(f"injected fault {entry}")


def injectable(step: str) -> Callable[[F], F]:
    """Decorate a step so the fault plan can fail it before or after its work."""

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            _maybe_fail(step, "before")
            result = fn(*args, **kwargs)
            _maybe_fail(step, "after")
            return result

        return inner  # type: ignore[return-value]

    return wrap


def fired() -> set[str]:
    """The entries that have fired in this process."""
    with _lock:
        return set(_fired)


def reset() -> None:
    with _lock:
        _fired.clear()


def crash_point(point: str) -> None:
    """Exit the process at once (no cleanup, like SIGKILL) if the plan names this point."""
    settings = get_settings()
    entry = f"sandbox:{point}"
    if not settings.fault_plan or entry not in {p.strip() for p in settings.fault_plan.split(",")}:
        return
    marker = Path(settings.fault_dir) / f"fired-sandbox-{point}"
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return
    os._exit(137)
