"""Which confinement commands get: ``FIXLOOP_SANDBOX_ISOLATION``.

``auto`` (the default) takes bubblewrap when it works here, else a separate uid when this
process can switch to one, else refuses: a command never silently runs unconfined. ``bwrap``
and ``uid`` insist on one mechanism; ``off`` runs commands as the server's own user, which
is logged as a warning (for trusted repositories only). A refusal is a tool error that says
why and how to fix it.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_lambda_powertools import Logger

from fixloop.config import get_settings
from fixloop.errors import ToolFailed
from fixloop.sandbox.confinement.base import CommandLimits, Confinement, Unconfined
from fixloop.sandbox.confinement.bwrap import Bubblewrap, probe_bwrap
from fixloop.sandbox.confinement.uid import SeparateUid, probe_uid, resolve_user

__all__ = ["IsolationRefused", "choose", "confinement"]

logger = Logger(child=True)

HOW_TO_FIX = (
    "Install bubblewrap (apt-get install bubblewrap; `make test` and `make demo` do it as "
    "root), or run the sandbox as root so commands can run as a separate uid, or set "
    "FIXLOOP_SANDBOX_ISOLATION=off to run commands unconfined (trusted repositories only)."
)


@dataclass(frozen=True)
class IsolationRefused:
    """No mechanism is available: why, for the tool error."""

    reason: str

    def error(self) -> ToolFailed:
        return ToolFailed(f"run_command is refused: {self.reason}. {HOW_TO_FIX}")


def choose(
    isolation: str, bwrap_problem: str | None, uid_problem: str | None
) -> str | IsolationRefused:
    """The mechanism's name for a setting and what stands in each one's way (None: nothing).
    ``uid_problem`` is only consulted when bubblewrap is not taken."""
    if isolation == "off":
        return "off"
    if isolation == "bwrap":
        return "bwrap" if bwrap_problem is None else IsolationRefused(bwrap_problem)
    if isolation == "uid":
        return "uid" if uid_problem is None else IsolationRefused(uid_problem)
    if bwrap_problem is None:
        return "bwrap"
    if uid_problem is None:
        return "uid"
    return IsolationRefused(f"no way to confine commands here: {bwrap_problem}; {uid_problem}")


def confinement() -> Confinement:
    """The confinement of this process's settings; ToolFailed when there is none."""
    s = get_settings()
    limits = CommandLimits(s.sandbox_max_processes, s.sandbox_max_file_bytes)
    bwrap_problem = (
        probe_bwrap(s.sandbox_bwrap) if s.sandbox_isolation in ("auto", "bwrap") else "not asked"
    )
    needs_uid = s.sandbox_isolation == "uid" or (
        s.sandbox_isolation == "auto" and bwrap_problem is not None
    )
    uid, gid = resolve_user(s.sandbox_user) if needs_uid else (0, 0)
    uid_problem = probe_uid(uid, gid) if needs_uid else "not asked"
    chosen = choose(s.sandbox_isolation, bwrap_problem, uid_problem)
    if isinstance(chosen, IsolationRefused):
        logger.error("commands refused", extra={"reason": chosen.reason})
        raise chosen.error()
    if chosen == "bwrap":
        return Bubblewrap(limits, s.sandbox_bwrap)
    if chosen == "uid":
        if s.sandbox_isolation == "auto":
            logger.info(
                "bubblewrap unavailable: commands run as a separate uid",
                extra={"reason": bwrap_problem},
            )
        return SeparateUid(limits, uid, gid)
    logger.warning(
        "FIXLOOP_SANDBOX_ISOLATION=off: commands run UNCONFINED as the sandbox server's own "
        "user, with its network and file system; use it for trusted repositories only"
    )
    return Unconfined(limits)
