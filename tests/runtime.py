"""The embedded runtime as tests use it: with a watcher of its state machine."""

from __future__ import annotations

from functools import cached_property

from fixloop.cli.watch import Watcher
from fixloop.local.runtime import EmbeddedRuntime


class LocalRuntime(EmbeddedRuntime):
    @cached_property
    def watcher(self) -> Watcher:
        """Follows this runtime's investigations (its state machine exists once started)."""
        if not self.state_machine_arn:
            raise RuntimeError("the runtime is not started")
        return Watcher(self.state_machine_arn)
