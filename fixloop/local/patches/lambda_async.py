"""Gap: moto has no asynchronous Lambda invocation semantics (``InvocationType=Event``).

Lambda queues an event invocation, answers 202 at once, and runs a function that fails up to
twice more. :func:`start` does the same in a background thread, through the in-process
runtime (:mod:`.lambda_runtime`); :mod:`.lambda_invoke` calls it for ``Event`` invocations.
Slack Events relies on it: it acknowledges Slack at once and handles the event in an
asynchronous invocation of itself.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Final

from fixloop.local.patches import lambda_runtime

LOG = logging.getLogger(__name__)

ASYNC_ATTEMPTS: Final = 3
"""Lambda runs an asynchronous invocation whose function fails up to twice more."""


def start(function_name: str, event: Any, *, timeout_s: float | None = None) -> None:
    """Run the function in the background, retried as Lambda retries an event invocation
    (a run that times out included)."""
    threading.Thread(
        target=_run,
        args=(function_name, event, timeout_s),
        name=f"lambda-event-{function_name}",
        daemon=True,
    ).start()


def _run(function_name: str, event: Any, timeout_s: float | None) -> None:
    for attempt in range(1, ASYNC_ATTEMPTS + 1):
        payload, failed = lambda_runtime.run(function_name, event, timeout_s=timeout_s)
        if not failed:
            return
        LOG.warning(
            "async invoke of %s failed (attempt %d of %d): %s",
            function_name,
            attempt,
            ASYNC_ATTEMPTS,
            payload.decode("utf-8"),
        )
