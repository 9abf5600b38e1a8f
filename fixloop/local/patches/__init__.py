"""Patches that let moto 5.2.5 run fixloop's real state machine on one machine.

moto's server (``moto.server.ThreadedMotoServer``, in this process) executes the ASL with its
built-in interpreter (``moto.stepfunctions.parser``) when ``execute_state_machine`` is on.
One module per gap it leaves, each saying what it closes (the project's notes on running
Step Functions locally, ``notes/local-stepfunctions.md`` in the team's shared folder, list
what was observed):

- :mod:`.lambda_invoke`: Lambda Invoke runs the handler in-process (moto wants Docker);
  :mod:`.lambda_async`: an ``Event`` invocation runs in the background, retried as Lambda
  does; :mod:`.lambda_runtime`: the dispatcher and Lambda's error shape they share.
- :mod:`.service_integrations`: service integration parameters and results, from botocore's
  models (moto drops them).
- :mod:`.interpreter_clients`: the interpreter's own clients reach the server running it.
- :mod:`.execution_history`: GetExecutionHistory pages as AWS does.
- :mod:`.retry_sleep`: the wait between Retry attempts is hookable.
- :mod:`.dynamodb_lock`: DynamoDB requests are applied one at a time (moto is not
  thread-safe there).
- :mod:`.ecs_tasks`: RunTask/StopTask call hooks (moto runs no container).
- :mod:`.run_credential`: only requests signed with the run's own key are answered (moto
  answers anyone who reaches its port).
- :mod:`.alarm_history`: CloudWatch ``DescribeAlarmHistory`` answers from the state changes
  moto records (moto has no such action).
- Speed: :mod:`.jsonpath_cache` (JSONPath parsed once), :mod:`.dynamodb_query` (a query
  reads its partition, not the table), :mod:`.dynamodb_updates` (update expression
  validators dispatch through a table built once per class), :mod:`.dynamodb_responses`
  (data-plane results encoded along a plan of their output shape), :mod:`.server_routing` (a
  request's backend found once per host), and :mod:`.in_process` (this process's requests
  skip HTTP; applied per server by :func:`serve_in_process`).
- :mod:`.execution_events`: an execution's end is sent to a listener as Step Functions'
  "Execution Status Change" event (the embedded runtime delivers it to ``reconcile``).
- The chaos (:mod:`.chaos`, ``FIXLOOP_CHAOS``, off by default): faults AWS produces and moto
  does not, each in its own module: :mod:`.chaos_dynamodb` (throttles, transaction
  conflicts), :mod:`.chaos_lambda_timeout` (a function's timeout enforced, its thread's
  later requests refused), both answered by one gate on moto's server (:mod:`.chaos_requests`),
  :mod:`.chaos_sandbox_start` (a sandbox task's slow start), :mod:`.chaos_heartbeat` (the
  heartbeat clock of a waiting task runs during its invocation), :mod:`.chaos_states_runtime`
  (a missing Choice path is ``States.Runtime``, which ``States.ALL`` does not catch).

Everything else the real ASL uses (context object, ``MaxConcurrencyPath``, ``ItemSelector``
with ``$$.Map.Item.*``, ``JitterStrategy``/``MaxDelaySeconds``, ``Catch`` with ``ResultPath``,
execution history details for Map iterations and Lambda tasks) works on moto 5.2.5 unchanged.

Known differences left alone (unless the chaos asks for AWS's behaviour): a Choice rule whose
``Variable`` path is missing falls through to ``Default`` (AWS fails with ``States.Runtime``);
``States.ALL`` catches ``States.Runtime``; timestamps in integration results (e.g.
``StartDate``) are ISO-8601 strings; every execution re-parses its definition (~80-100 ms for
the investigation ASL).

The patches reach into moto internals: moto is pinned exactly, :func:`assert_moto_version`
checks the pin and :func:`install` raises ``RuntimeError`` naming whatever it cannot find,
before changing anything.
"""

from __future__ import annotations

import copy
import json
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any, Final, cast

from fixloop.local.patches import (
    alarm_history,
    chaos_dynamodb,
    chaos_heartbeat,
    chaos_requests,
    chaos_states_runtime,
    dynamodb_lock,
    dynamodb_query,
    dynamodb_responses,
    dynamodb_updates,
    ecs_tasks,
    execution_events,
    execution_history,
    interpreter_clients,
    jsonpath_cache,
    lambda_invoke,
    lambda_runtime,
    retry_sleep,
    run_credential,
    server_routing,
    service_integrations,
)
from fixloop.local.patches.ecs_tasks import set_task_hooks
from fixloop.local.patches.execution_events import ExecutionListener, set_execution_listener
from fixloop.local.patches.in_process import serve_in_process, server_app, stop_serving
from fixloop.local.patches.internals import MOTO_VERSION, Replacement, assert_moto_version
from fixloop.local.patches.interpreter_clients import set_internal_endpoint
from fixloop.local.patches.lambda_runtime import Dispatch
from fixloop.local.patches.retry_sleep import RetrySleep, set_retry_sleep

__all__ = [
    "MOTO_CONFIG",
    "MOTO_VERSION",
    "PATCHES",
    "Dispatch",
    "ExecutionListener",
    "RetrySleep",
    "assert_moto_version",
    "configure_server",
    "install",
    "installed",
    "serve_in_process",
    "server_app",
    "set_execution_listener",
    "set_internal_endpoint",
    "set_retry_sleep",
    "set_run_credential",
    "set_task_hooks",
    "stop_serving",
    "uninstall",
]

MOTO_CONFIG: Final[dict[str, dict[str, bool]]] = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
}
"""Applied to the server by :func:`configure_server`; read by moto on every request."""

PATCHES: Final[tuple[ModuleType, ...]] = (
    lambda_invoke,
    service_integrations,
    interpreter_clients,
    execution_history,
    retry_sleep,
    dynamodb_lock,
    ecs_tasks,
    jsonpath_cache,
    dynamodb_query,
    dynamodb_updates,
    dynamodb_responses,
    server_routing,
    execution_events,
    chaos_requests,
    chaos_dynamodb,
    chaos_heartbeat,
    chaos_states_runtime,
    run_credential,
    alarm_history,
)
"""What :func:`install` applies: each module's ``replacements()``."""

_lock = threading.RLock()
_originals: list[tuple[Replacement, Any]] = []
_ABSENT: Final = object()
"""The original of an attribute a patch adds (an action moto lacks): removed on uninstall."""


def install(dispatch: Dispatch, *, check_version: bool = True) -> None:
    """Patch moto in this process so the real ASL runs with Lambda routed to ``dispatch``.

    Idempotent: a second call only replaces the dispatcher. ``dispatch`` receives the plain
    function name (never an ARN) and the decoded JSON event; its return value is the JSON
    payload, and an exception it raises becomes a Lambda function error named after the
    exception class. Raises ``RuntimeError`` (naming the missing module or attribute) when
    moto's internals are not where these patches expect them; nothing is patched then.
    """
    if check_version:
        assert_moto_version()
    with _lock:
        lambda_runtime.set_dispatch(dispatch)
        if _originals:
            return
        found: list[Replacement] = [r for patch in PATCHES for r in patch.replacements()]
        for replacement in found:
            original = getattr(replacement.owner, replacement.name, _ABSENT)
            _originals.append((replacement, original))
            setattr(replacement.owner, replacement.name, replacement.new)


def uninstall() -> None:
    """Restore every patched moto attribute and forget the dispatcher."""
    with _lock:
        for replacement, original in reversed(_originals):
            if original is _ABSENT:
                delattr(replacement.owner, replacement.name)
            else:
                setattr(replacement.owner, replacement.name, original)
        _originals.clear()
        lambda_runtime.set_dispatch(None)
        interpreter_clients.forget_clients()


def configure_server(endpoint_url: str, *, timeout: float = 10.0) -> None:
    """Apply :data:`MOTO_CONFIG` to the moto server at ``endpoint_url``, and aim the
    interpreter's internal clients at it.

    moto keeps its configuration in one module-level dict (``moto.core.config
    .default_user_config``) that it reads on every request, and ``POST /moto-api/config``
    assigns into that dict. For a ``ThreadedMotoServer`` in this process the POST and an
    in-process assignment are therefore the same thing; the POST is used because it works for
    an out-of-process server too. Call this before creating any state machine: with
    ``execute_state_machine`` off, state machines live in a different backend.
    """
    base = endpoint_url.rstrip("/")
    request = urllib.request.Request(
        f"{base}/moto-api/config",
        data=json.dumps(MOTO_CONFIG).encode("utf-8"),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    # Loopback: never through an HTTP(S)_PROXY from the environment.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=timeout) as response:
        applied = json.loads(response.read() or b"{}")
    # The endpoint echoes only "batch" and "lambda".
    if applied.get("lambda", {}).get("use_docker") is not False:
        raise RuntimeError(f"moto at {base} did not accept {MOTO_CONFIG}: it answered {applied}")
    set_internal_endpoint(base)


def set_run_credential(server: Any, access_key_id: str) -> None:
    """Have ``server`` (a ``ThreadedMotoServer``) answer only requests signed with
    ``access_key_id`` ("" answers all), and let the interpreter's own clients sign with the
    run's key from now on."""
    run_credential.set_run_credential(server_app(server), access_key_id)
    interpreter_clients.forget_clients()


@contextmanager
def installed(dispatch: Dispatch, endpoint_url: str) -> Iterator[None]:
    """:func:`install` and :func:`configure_server` for a block, then put everything back.

    moto's backends, its config and these patches are process-wide: every moto server in a
    process serves the same state. This lets a test module borrow them (its own dispatcher,
    endpoint and retry sleep) and return them as they were, patched or not, afterwards.
    """
    from moto.core.config import default_user_config

    live_config = cast("dict[str, Any]", default_user_config)
    with _lock:
        was_installed = bool(_originals)
        previous = (
            lambda_runtime.current_dispatch(),
            interpreter_clients.internal_endpoint(),
            retry_sleep.current_retry_sleep(),
        )
        listener = set_execution_listener(None)
        set_execution_listener(listener)
        config = copy.deepcopy(live_config)
    try:
        install(dispatch)
        configure_server(endpoint_url)
        yield
    finally:
        with _lock:
            if not was_installed:
                uninstall()
            lambda_runtime.set_dispatch(previous[0] if was_installed else None)
            set_internal_endpoint(previous[1])
            set_retry_sleep(previous[2])
            set_execution_listener(listener)
            live_config.clear()
            live_config.update(config)
