"""CDK stacks and constructs of fixloop (no AWS calls at synth time)."""

from __future__ import annotations

from stacks.config import FixloopConfig
from stacks.fixloop_stack import FixloopStack

__all__ = ["FixloopConfig", "FixloopStack"]
