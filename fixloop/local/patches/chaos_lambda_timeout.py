"""Chaos: a Lambda function that runs past its timeout fails, as Lambda fails it.

AWS: Lambda stops an invocation when it has run for the function's ``Timeout`` (fixloop sets
each function's in its catalogue, ``fixloop/functions.py``, which the CDK app and the
embedded runtime both read). The invocation returns ``FunctionError: Unhandled`` with the
payload ``{"errorType": "Sandbox.Timedout", "errorMessage": "RequestId: <id> Error: Task
timed out after 60.00 seconds"}``, and the execution environment is frozen and discarded, so
nothing the handler would have done afterwards happens. A state machine's ``lambda:invoke``
task takes the payload's ``errorType`` as the error name, so Retry and Catch see
``Sandbox.Timedout`` (the Step Functions guide still says timeouts are reported as
``Lambda.Unknown``, which is what the older payload without an ``errorType`` gave: a Retry
naming only ``Lambda.Unknown`` does not cover a timeout today; fixloop's ``States.ALL``
retry does). An asynchronous invocation that times out is retried like any other failure.
(Lambda developer guide, "Troubleshoot invocation issues": Sandbox.Timedout; Step Functions
developer guide, "Handle Lambda service exceptions".)

moto's in-process dispatch (:mod:`.lambda_runtime`) runs a handler for as long as it takes.
With ``lambda_timeouts`` in ``FIXLOOP_CHAOS``, :func:`run_within` runs it on a thread of its
own and gives it the function's timeout (times ``FIXLOOP_CHAOS_TIME_SCALE``); past that, the
invocation returns Lambda's timeout error. A Python thread cannot be stopped: the handler
goes on in the background and its result is discarded. Its thread is "frozen" instead: every
AWS request it makes from then on is refused by the chaos's gate on moto's server
(:mod:`.chaos_requests`, :func:`refusal`), so nothing it would write after its timeout lands,
as in AWS (a request already being answered at the timeout may land, as one in flight may in
AWS). What it does outside AWS (git, a model's or a sandbox's HTTP) is not stopped.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from typing import Any, Final

from fixloop.local.patches import chaos

__all__ = ["TIMED_OUT", "frozen", "limit", "refusal", "run_within", "timed_out_payload"]

TIMED_OUT: Final = "Sandbox.Timedout"
_frozen: set[int] = set()
"""Threads of invocations that timed out (their idents, until they end)."""
_lock = threading.Lock()


def limit(timeout_s: float | None) -> float | None:
    """How long an in-process handler of a function with ``timeout_s`` may run, or None
    (no limit: the chaos does not enforce timeouts, or the function's is unknown)."""
    if timeout_s is None or timeout_s <= 0:
        return None
    now = chaos.current()
    return timeout_s * now.time_scale if now.lambda_timeouts else None


def run_within(call: Callable[[], Any], seconds: float, name: str) -> tuple[bool, Any]:
    """Run ``call`` for at most ``seconds``: ``(True, its result)``, or ``(False, None)``
    when it ran out of time (it goes on in the background; what it returns is dropped). An
    exception it raises in time is raised here."""
    outcome: list[Any] = []
    failure: list[BaseException] = []

    def invoke() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:  # handed to the caller, as the runtime reports it
            failure.append(exc)
        finally:
            with _lock:
                _frozen.discard(threading.get_ident())

    worker = threading.Thread(target=invoke, name=f"lambda-{name}", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        with _lock:
            if worker.is_alive() and worker.ident is not None:
                _frozen.add(worker.ident)
        chaos.record("lambda_timeouts")
        return False, None
    if failure:
        raise failure[0]
    return True, outcome[0]


def frozen() -> bool:
    """Whether the calling thread runs an invocation that timed out."""
    with _lock:
        return threading.get_ident() in _frozen


def refusal(environ: dict[str, Any]) -> Any:
    """A WSGI application refusing the request of a timed-out invocation's thread, or None.
    (Only this process's own requests are answered on the calling thread: :mod:`.in_process`.)"""
    return _refuse if frozen() else None


def _refuse(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("403 Forbidden", [("Content-Type", "application/x-amz-json-1.0")])
    message = "the invocation timed out: Lambda froze its environment"
    return [json.dumps({"__type": "AccessDeniedException", "message": message}).encode()]


def timed_out_payload(timeout_s: float) -> bytes:
    """The invocation's payload when Lambda timed it out (no stack trace: the runtime was
    stopped, not the handler)."""
    message = f"RequestId: {uuid.uuid4()} Error: Task timed out after {timeout_s:.2f} seconds"
    return json.dumps({"errorType": TIMED_OUT, "errorMessage": message}).encode("utf-8")
