"""Gap 1: Lambda ``Invoke`` needs Docker in moto (without it, a canned string comes back).

``moto.awslambda_simple.models.LambdaSimpleBackend.invoke`` is replaced by a call to the
in-process dispatcher (:mod:`.lambda_runtime`) with the plain function name and the decoded
JSON event. A raised exception comes back as a function error (``X-Amz-Function-Error:
Unhandled`` and ``{"errorMessage", "errorType", "stackTrace"}``), so ASL Retry/Catch match on
the exception's class name. This serves direct ``lambda.invoke`` calls,
``arn:aws:states:::lambda:invoke`` and plain function-ARN ``Resource`` tasks alike (the
interpreter calls Lambda over the API). ``Event`` invocations run in the background
(:mod:`.lambda_async`); ``DryRun`` runs nothing. Each routed function still needs
``create_function`` (and an IAM role to exist): an unknown name answers 404 as Lambda does.
The function's ``Timeout`` goes with each run, for the chaos to enforce
(:mod:`.chaos_lambda_timeout`).
"""

from __future__ import annotations

import json
from typing import Any

from fixloop.local.patches import lambda_async, lambda_runtime
from fixloop.local.patches.internals import Replacement, internal, require_class

_MODELS = "moto.awslambda_simple.models"
_EXCEPTIONS = "moto.awslambda.exceptions"


def replacements() -> list[Replacement]:
    backend = require_class(_MODELS, "LambdaSimpleBackend", "invoke", "get_function")
    require_class(_EXCEPTIONS, "LambdaClientError")
    return [Replacement(backend, "invoke", _invoke)]


def _invoke(  # noqa: PLR0917 - moto's signature
    self: Any,
    function_name: str,
    qualifier: str | None,
    body: Any,
    headers: Any,
    response_headers: dict[str, str],
) -> bytes:
    """``LambdaSimpleBackend.invoke``: route to the in-process dispatcher."""
    fn = self.get_function(function_name, qualifier)  # 404 ResourceNotFoundException if absent
    name: str = fn.function_name
    invocation_type = (headers.get("X-Amz-Invocation-Type") if headers else None) or (
        "RequestResponse"
    )
    response_headers["x-amz-executed-version"] = str(getattr(fn, "version", "$LATEST"))
    if invocation_type == "DryRun":
        return b""
    event = _plain_event(body)
    timeout_s = _timeout(fn)
    if invocation_type == "Event":
        lambda_async.start(name, event, timeout_s=timeout_s)
        return b""
    payload, failed = lambda_runtime.run(name, event, timeout_s=timeout_s)
    if failed:
        response_headers["x-amz-function-error"] = "Unhandled"
    return payload


def _timeout(fn: Any) -> float | None:
    """The function's configured ``Timeout`` (what the chaos may enforce)."""
    value = getattr(fn, "timeout", None)
    return float(value) if isinstance(value, int | float) else None


def _plain_event(body: Any) -> Any:
    if body is None or body in (b"", ""):
        return {}
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise internal(_EXCEPTIONS).LambdaClientError(
            "InvalidRequestContentException", f"Could not parse request body into json: {exc}"
        ) from exc
