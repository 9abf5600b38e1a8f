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


def run(function_name: str, event: Any) -> tuple[bytes, bool]:
    """Call the dispatcher as the Lambda runtime would: (payload, is_function_error)."""
    dispatch = _route.dispatch
    if dispatch is None:
        return function_error("Runtime.Unavailable", "no dispatcher installed", []), True
    try:
        result = dispatch(function_name, event)
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
