"""How a command the model asked for is confined: who it runs as, what it can reach, and
that nothing it starts outlives it.

Two mechanisms, chosen by ``FIXLOOP_SANDBOX_ISOLATION`` (:mod:`.choice`): bubblewrap
namespaces (:mod:`.bwrap`: the embedded runtime, any Linux with user namespaces) and a
separate unprivileged uid (:mod:`.uid`: Fargate). Both bound processes and file sizes
(:class:`.base.CommandLimits`, and a pids cgroup where one can be made, :mod:`.cgroup`).
docs/security.md says what each one stops and how it is tested.
"""

from __future__ import annotations

from fixloop.sandbox.confinement.base import CommandLimits, Confinement, Unconfined
from fixloop.sandbox.confinement.bwrap import Bubblewrap, probe_bwrap
from fixloop.sandbox.confinement.choice import IsolationRefused, choose, confinement
from fixloop.sandbox.confinement.command import CommandRun, command_env, run_confined
from fixloop.sandbox.confinement.uid import SeparateUid, probe_uid, resolve_user

__all__ = [
    "Bubblewrap",
    "CommandLimits",
    "CommandRun",
    "Confinement",
    "IsolationRefused",
    "SeparateUid",
    "Unconfined",
    "choose",
    "command_env",
    "confinement",
    "probe_bwrap",
    "probe_uid",
    "resolve_user",
    "run_confined",
]
