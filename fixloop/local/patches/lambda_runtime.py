"""The in-process Lambda runtime the invoke patches share: one dispatcher, Lambda's error shape.

Not a patch by itself: :mod:`.lambda_invoke` and :mod:`.lambda_async` run functions through
:func:`run`, which calls the dispatcher as the Lambda runtime calls a handler. An exception
becomes a function error, ``{"errorMessage", "errorType", "stackTrace"}`` named after the
exception class, which is what ASL ``Retry``/``Catch`` match on.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable
from types import TracebackType
from typing import Any

from fixloop.local.patches import chaos_lambda_timeout

Dispatch = Callable[[str, dict[str, Any]], Any]
"""``dispatch(function_name, event) -> payload``: the plain function name, never an ARN."""


class _Route:
    dispatch: Dispatch | None = None


_route = _Route()


def set_dispatch(dispatch: Dispatch | None) -> None:
    """Route every Lambda invocation of this process to ``dispatch`` (None: to nothing)."""
    _route.dispatch = dispatch


def current_dispatch() -> Dispatch | None:
    return _route.dispatch


def run(function_name: str, event: Any, *, timeout_s: float | None = None) -> tuple[bytes, bool]:
    """Call the dispatcher as the Lambda runtime would: (payload, is_function_error).

    ``timeout_s`` is the function's configured timeout, which the chaos may enforce
    (:mod:`.chaos_lambda_timeout`)."""
    dispatch = _route.dispatch
    if dispatch is None:
        return function_error("Runtime.Unavailable", "no dispatcher installed", []), True
    allowed = chaos_lambda_timeout.limit(timeout_s)
    try:
        if allowed is None:
            result = dispatch(function_name, event)
        else:
            finished, result = chaos_lambda_timeout.run_within(
                lambda: dispatch(function_name, event), allowed, function_name
            )
            if not finished:
                return chaos_lambda_timeout.timed_out_payload(timeout_s or 0.0), True
    except Exception as exc:  # every handler error becomes a function error
        return function_error(type(exc).__name__, str(exc), _stack_trace(exc.__traceback__)), True
    try:
        return json.dumps(result).encode("utf-8"), False
    except (TypeError, ValueError) as exc:
        message = f"Unable to marshal response: {exc}"
        return function_error("Runtime.MarshalError", message, []), True


def function_error(error_type: str, message: str, stack: list[str]) -> bytes:
    body = {"errorMessage": message, "errorType": error_type, "stackTrace": stack}
    return json.dumps(body).encode("utf-8")


def _stack_trace(tb: TracebackType | None) -> list[str]:
    # Drop this module's own frame, as the Lambda runtime hides its bootstrap.
    if tb is not None and tb.tb_frame.f_code.co_filename == __file__ and tb.tb_next is not None:
        tb = tb.tb_next
    return traceback.format_list(traceback.extract_tb(tb))
