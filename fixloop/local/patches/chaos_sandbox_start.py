"""Chaos: a sandbox task takes a while to start, as a Fargate task does.

AWS: ``RunTask`` answers at once with a task in ``PROVISIONING``; ECS then attaches its
network interface (``PENDING``), pulls the image and starts the container (``ACTIVATING``,
``RUNNING``). For an image the size of the sandbox's that takes tens of seconds, a minute or
more when the image is not cached; ``DescribeTasks`` reports each ``lastStatus`` on the way,
and nothing answers on the task's address before its container runs. (Amazon ECS developer
guide, "Amazon ECS task lifecycle".)

The embedded runtime's sandbox is a local process started as RunTask returns
(:mod:`fixloop.local.sandboxes`). With ``sandbox_start=SECONDS`` in ``FIXLOOP_CHAOS`` (times
``FIXLOOP_CHAOS_TIME_SCALE``), the task's address is reserved at once but its process starts
only after that delay: DescribeTasks says ``PROVISIONING`` for the first half of the wait and
``PENDING`` for the rest, and the address refuses connections until the process listens.
That is what the dispatcher's heartbeats while a sandbox starts are for (with
``heartbeat_clock``, a start longer than the heartbeat interval times the waiting call out
without them).
"""

from __future__ import annotations

from fixloop.local.patches import chaos

__all__ = ["pending_status", "start_delay"]


def start_delay() -> float:
    """Seconds a sandbox task started now waits before its process starts (0: none)."""
    now = chaos.current()
    if now.sandbox_start <= 0:
        return 0.0
    chaos.record("sandbox_start")
    return now.sandbox_start * now.time_scale


def pending_status(waited: float, delay: float) -> str:
    """The ``lastStatus`` of a task ``waited`` seconds into a start of ``delay`` seconds."""
    return "PROVISIONING" if waited < delay / 2 else "PENDING"
