"""What fixloop's own long-running processes (the CLI, the sandbox server) do about being
read and being stopped.

- Not dumpable: a process that handles secrets makes its ``/proc/<pid>`` files root's, so
  another process of the same user (a command a sandbox runs, in the uid mode; anything else
  the user runs) cannot read its environment or memory.
- Stopped cleanly: SIGTERM (``docker stop``, ECS StopTask, ``kill``) raises
  :class:`Terminated` in the main thread, like Ctrl-C raises ``KeyboardInterrupt``, so
  ``with`` blocks and ``finally`` clauses run: sandboxes stopped, command trees killed,
  workspaces removed.
"""

from __future__ import annotations

import ctypes
import signal
import sys
from types import FrameType

__all__ = ["Terminated", "make_not_dumpable", "stop_on_sigterm"]

_PR_SET_DUMPABLE = 4


class Terminated(BaseException):
    """SIGTERM arrived (a BaseException, like KeyboardInterrupt: ``except Exception`` does
    not swallow it)."""

    exit_code = 143


def make_not_dumpable() -> None:
    """Make this process's ``/proc`` entries unreadable to other processes of its user
    (Linux; elsewhere nothing)."""
    if sys.platform != "linux":
        return
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)


def stop_on_sigterm() -> None:
    """Turn SIGTERM into :class:`Terminated` in the main thread."""

    def terminate(signum: int, frame: FrameType | None) -> None:
        raise Terminated()

    signal.signal(signal.SIGTERM, terminate)
