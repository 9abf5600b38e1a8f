"""Chaos: a waiting task's heartbeat clock runs from the task's start, as in AWS.

AWS: a Task state with ``HeartbeatSeconds`` fails with a heartbeat timeout when more time than
that passes between heartbeats from the task, counted from its start: for
``lambda:invoke.waitForTaskToken`` the Lambda invocation that hands the token over is part of
the task, so a function that takes longer than ``HeartbeatSeconds`` without a
``SendTaskHeartbeat`` (a sandbox that takes a minute to start, say) times its task out while
it still runs, and the function's later result is ignored. ``SendTaskHeartbeat`` is accepted
from the moment the token exists and answered ``TaskTimedOut`` once the task timed out.
(Step Functions API reference, SendTaskHeartbeat: "This action resets the Heartbeat clock";
Amazon States Language, Task state: HeartbeatSeconds.)

moto's interpreter starts the clock only after the Lambda invocation returned, and answers a
heartbeat sent during it ``InvalidToken``, so a slow start can never time a task out there.
With ``heartbeat_clock`` in ``FIXLOOP_CHAOS``:

- ``StateTaskServiceLambda._eval_service_task`` (the invocation) of a callback task with a
  heartbeat runs on a thread of its own while the task's thread waits for it or for the
  heartbeat deadline; past the deadline the task fails as moto fails a heartbeat timeout
  (``States.Timeout``, notes gap 5), and the invocation finishes in the background;
- ``CallbackEndpoint.notify_heartbeat`` accepts a heartbeat before moto's heartbeat endpoint
  exists (it moves the deadline), and refuses one for a task that timed out (``InvalidToken``,
  where AWS says ``TaskTimedOut``: fixloop's callers treat both as "the task is gone");
- ``CallbackEndpoint.setup_heartbeat_endpoint`` gives moto's wait after the invocation the
  deadline of the last heartbeat, not a fresh interval.

One more difference is a moto bug rather than a kindness, so it is fixed with or without the
chaos: a token answered during the invocation (a retried dispatch whose result is already
recorded answers at once) left moto waiting a whole heartbeat interval for a heartbeat before
it looked at the answer, and then timed the task out. ``setup_heartbeat_endpoint`` now wakes
that wait when the answer is already there, so the task ends with it, as in AWS.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from fixloop.local.patches import chaos
from fixloop.local.patches.internals import Replacement, internal, require, require_class

__all__ = ["replacements"]

_SERVICE = "moto.stepfunctions.parser.asl.component.state.exec.state_task.service"
_LAMBDA = f"{_SERVICE}.state_task_service_lambda"
_RESOURCE = f"{_SERVICE}.resource"
_CALLBACK = "moto.stepfunctions.parser.asl.eval.callback.callback"
_LAST_BEAT = "_fixloop_last_beat"
_TIMED_OUT = "_fixloop_timed_out"
_POLL_S = 0.05


def replacements() -> list[Replacement]:
    service = require_class(_LAMBDA, "StateTaskServiceLambda", "_eval_service_task")
    endpoint_class = require_class(
        _CALLBACK, "CallbackEndpoint", "notify_heartbeat", "setup_heartbeat_endpoint", "get_outcome"
    )
    heartbeat_class = require_class(_CALLBACK, "HeartbeatEndpoint", "clear_and_wait", "notify")
    require(
        heartbeat_class(heartbeat_seconds=1), "_heartbeat_seconds", f"{_CALLBACK}.HeartbeatEndpoint"
    )
    timeout_error = require(internal(_CALLBACK), "HeartbeatTimeoutError", _CALLBACK)
    wait_for_token = require(
        require(internal(_RESOURCE), "ResourceCondition", _RESOURCE), "WaitForTaskToken", _RESOURCE
    )
    original_eval = service._eval_service_task
    original_notify = endpoint_class.notify_heartbeat
    original_setup = endpoint_class.setup_heartbeat_endpoint

    def _eval_service_task(self: Any, env: Any, *args: Any, **kwargs: Any) -> None:
        endpoint = _callback_endpoint(self, env, wait_for_token)
        if endpoint is None:
            return original_eval(self, env, *args, **kwargs)  # type: ignore[no-any-return]
        seconds = _heartbeat_seconds(self, env)
        setattr(endpoint, _LAST_BEAT, time.monotonic())
        done = threading.Event()
        failure: list[BaseException] = []

        def invoke() -> None:
            try:
                original_eval(self, env, *args, **kwargs)
            except BaseException as exc:  # raised on the task's thread below
                failure.append(exc)
            done.set()

        threading.Thread(target=invoke, name="sfn-invoke-heartbeat", daemon=True).start()
        while not done.wait(_POLL_S):
            if time.monotonic() > getattr(endpoint, _LAST_BEAT) + seconds and env.is_running():
                setattr(endpoint, _TIMED_OUT, True)
                chaos.record("heartbeat_clock")
                raise timeout_error()
        if failure:
            raise failure[0]
        return None

    def notify_heartbeat(self: Any) -> bool:
        if not chaos.current().heartbeat_clock:
            return bool(original_notify(self))
        if getattr(self, _TIMED_OUT, False):
            return False
        setattr(self, _LAST_BEAT, time.monotonic())
        original_notify(self)  # False before moto's heartbeat endpoint exists: accepted here
        return True

    def setup_heartbeat_endpoint(self: Any, heartbeat_seconds: int) -> Any:
        created = original_setup(self, heartbeat_seconds)
        if chaos.current().heartbeat_clock and hasattr(self, _LAST_BEAT):
            _clock(created, heartbeat_class, self, heartbeat_seconds)
        if self.get_outcome() is not None:  # answered during the invocation: done at once
            created.notify()
        return created

    return [
        Replacement(service, "_eval_service_task", _eval_service_task),
        Replacement(endpoint_class, "notify_heartbeat", notify_heartbeat),
        Replacement(endpoint_class, "setup_heartbeat_endpoint", setup_heartbeat_endpoint),
    ]


def _callback_endpoint(state: Any, env: Any, wait_for_token: Any) -> Any:
    """The task's callback endpoint when the chaos runs its heartbeat clock: a
    ``.waitForTaskToken`` task with a heartbeat; else None."""
    if not chaos.current().heartbeat_clock or getattr(state, "heartbeat", None) is None:
        return None
    if getattr(state.resource, "condition", None) != wait_for_token:
        return None
    token = env.states.context_object.context_object_data.get("Task", {}).get("Token")
    return env.callback_pool_manager.get(token) if token else None


def _heartbeat_seconds(state: Any, env: Any) -> float:
    """``HeartbeatSeconds``, or ``HeartbeatSecondsPath`` read from the state's input."""
    env.stack.append(env.states.get_input())
    try:
        state.heartbeat.eval(env=env)
        return float(env.stack.pop())
    finally:
        env.stack.pop()


def _clock(heartbeat: Any, heartbeat_class: Any, endpoint: Any, seconds: float) -> None:
    """Make moto's wait for the next heartbeat end at the last heartbeat's deadline (its
    ``clear_and_wait`` waits ``_heartbeat_seconds``; 0 only looks)."""
    original_wait = heartbeat_class.clear_and_wait

    def clear_and_wait() -> bool:
        remaining = getattr(endpoint, _LAST_BEAT) + seconds - time.monotonic()
        heartbeat._heartbeat_seconds = max(0.0, remaining)
        return bool(original_wait(heartbeat))

    heartbeat.clear_and_wait = clear_and_wait
