"""Running a command in the workspace: confined, time-limited, output-capped, nothing left
behind. How it is confined (who it runs as, what it can reach) is
:mod:`fixloop.sandbox.confinement`'s."""

from __future__ import annotations

from pydantic import BaseModel, Field

from fixloop.errors import ToolFailed
from fixloop.sandbox.confinement.command import command_env, run_confined
from fixloop.sandbox.tools.context import workspace_of
from fixloop.tools.registry import Tool, ToolContext, cap_output

__all__ = ["RUN_COMMAND", "command_env"]

DEFAULT_TIMEOUT_S = 120

MAX_TIMEOUT_S = 1_800


class RunCommandInput(BaseModel):
    command: str = Field(
        min_length=1,
        description="A bash command, run from the repository root, e.g. "
        '"python -m pytest -x -q tests/test_pricing.py".',
    )
    timeout_s: int = Field(
        default=DEFAULT_TIMEOUT_S,
        ge=1,
        le=MAX_TIMEOUT_S,
        description="Seconds before the command and every process it started are killed.",
    )


def run_command(ctx: ToolContext, args: RunCommandInput) -> str:
    ws = workspace_of(ctx, "run_command")
    run = run_confined(
        args.command,
        ws.root,
        ws.home,
        timeout_s=args.timeout_s,
        keep=max(4 * ctx.max_output_chars, 1_000_000),
    )
    note = (
        f" ({run.total_chars} characters of output; the middle was not kept)"
        if run.dropped_chars
        else ""
    )
    if run.timed_out:
        raise ToolFailed(
            cap_output(
                f"timed out after {args.timeout_s}s; the command and every process it started "
                f"were killed{note}. Output so far:\n{run.output}",
                ctx.max_output_chars,
            )
        )
    return cap_output(
        f"$ {args.command}\nexit code {run.exit_code}{note}\n{run.output}", ctx.max_output_chars
    )


RUN_COMMAND = Tool(
    "run_command",
    "Run a bash command from the repository root: the tests (all, or one test while "
    'iterating, e.g. "python -m pytest tests/test_cart.py -q -k unknown_coupon"), '
    'installing the repository\'s dependencies ("pip install -e .", "npm ci"), git '
    'history ("git log -5 -- app/cart.py"). Returns its exit code and its output (stdout '
    "and stderr together, long output cut in the middle). Not for reading, searching or "
    "editing files: read_file, search_code and edit_file are exact and cheaper. "
    "Each call is a fresh shell as an unprivileged user with a minimal environment, no "
    "cloud credentials and usually no network; only the workspace is writable (and /tmp); "
    "processes it starts in the background are killed when it ends. A non-zero exit code "
    "is a normal result.",
    RunCommandInput,
    run_command,
    runs_in="sandbox",
    mutating=True,
)
