"""fixloop's own verification of a fix, in the sandbox (docs/architecture.md, "Verified
fixes").

:data:`VERIFY_FIX` is an operation of the sandbox, not a tool the model is offered: the
sandbox's registry has it (the server runs it like any call, heartbeats and all), the
model's registry does not, and the dispatcher sends it only for a verification item of the
Run Tools Map (:func:`fixloop.domain.verification.verification_item_id`). It changes
nothing in the workspace (its runs happen in scratch clones), so it is not journaled: a
replacement sandbox simply runs it again.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from fixloop.sandbox.tools.context import workspace_of
from fixloop.sandbox.verification.detect import SEARCHED, TestCommand, find_test_command
from fixloop.sandbox.verification.paths import is_test_file, is_test_module
from fixloop.sandbox.verification.verify import fit_report, signal_symptom, verify_change
from fixloop.tools.registry import Tool, ToolContext

__all__ = [
    "SEARCHED",
    "VERIFY_FIX",
    "TestCommand",
    "VerifyInput",
    "find_test_command",
    "is_test_file",
    "is_test_module",
    "signal_symptom",
    "verify_change",
]


class VerifyInput(BaseModel):
    test_command: str | None = Field(default=None, max_length=2_000)
    """The model's ``test_command`` (open_pull_request's input); None: found."""
    timeout_s: int = Field(default=600, ge=10, le=1_500)
    """Each run's time limit (``FIXLOOP_VERIFY_RUN_TIMEOUT_SECONDS``, from the dispatcher)."""


def verify_fix(ctx: ToolContext, args: VerifyInput) -> str:
    """The verification report of the workspace's change, as JSON that fits the call's
    output limit."""
    workspace = workspace_of(ctx, VERIFY_FIX.name)
    report = verify_change(
        workspace, ctx.signal, test_command=args.test_command, timeout_s=args.timeout_s
    )
    return fit_report(report, ctx.max_output_chars)


VERIFY_FIX = Tool(
    "fixloop_verify_fix",
    "fixloop's verification of the proposed change (not offered to the model).",
    VerifyInput,
    verify_fix,
    runs_in="sandbox",
)
