"""Gap 6: ASL Retry intervals sleep for real in moto.

``RetrierDecl._eval_body`` (``moto.stepfunctions.parser.asl.component.common.retry
.retrier_decl``) waits with its module's ``time.sleep``. That module's ``time`` is replaced by
a stand-in whose ``sleep`` goes through a hook, so tests replace the wait between attempts
(:func:`set_retry_sleep`) while everything else, Wait states included, keeps real time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fixloop.local.patches.internals import Replacement, internal, require

RetrySleep = Callable[[float], None]

_RETRIER = "moto.stepfunctions.parser.asl.component.common.retry.retrier_decl"


class _RetrierTime:
    """Stands in for the ``time`` module inside moto's retrier_decl only."""

    def __init__(self) -> None:
        self.hook: RetrySleep = time.sleep

    def sleep(self, seconds: float) -> None:
        self.hook(seconds)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


_time = _RetrierTime()


def set_retry_sleep(fn: RetrySleep | None) -> None:
    """Replace the sleep between ASL Retry attempts (``None`` restores ``time.sleep``)."""
    _time.hook = fn if fn is not None else time.sleep


def current_retry_sleep() -> RetrySleep:
    return _time.hook


def replacements() -> list[Replacement]:
    retrier = internal(_RETRIER)
    retrier_decl = require(retrier, "RetrierDecl", _RETRIER)
    body = require(retrier_decl, "_eval_body", f"{_RETRIER}.RetrierDecl")
    if require(retrier, "time", _RETRIER) is not time or not {"time", "sleep"} <= set(
        body.__code__.co_names
    ):
        raise RuntimeError(
            f"moto internals changed: {_RETRIER}.RetrierDecl._eval_body no longer waits "
            "with the module's time.sleep"
        )
    return [Replacement(retrier, "time", _time)]
