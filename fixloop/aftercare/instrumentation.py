"""``open_instrumentation_pull_request``: when the signal lacks what a diagnosis needs (an
alarm with no error logs behind it, errors without stack traces), open the instrumentation
pull request of ``fixloop onboard`` narrowed to the service in question, and park until the
problem's next occurrence brings the new telemetry (fixloop.intake.admission wakes it then).

A Lambda tool (Run Tool): it delivers through the code hosts like ``fixloop onboard`` does,
from the investigation's repository read with git at ``HEAD``, so it needs a local checkout
of it where it runs (the embedded runtime, the CLI). The parking is a conditional status
change: the loop stops at the next turn boundary (Prepare finds the investigation closed).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from fixloop.aftercare.deployment import watch_of
from fixloop.aftercare.recurrence import sample_of
from fixloop.conversation import post_message, reopen
from fixloop.delivery.protocol import DeliveryError
from fixloop.domain import Investigation, Signal, StatusChanged
from fixloop.domain.events import outcome_position
from fixloop.errors import FixloopError, ToolFailed
from fixloop.onboarding import NothingToChange, deliver_onboarding
from fixloop.store import stores
from fixloop.tools.registry import Tool, ToolContext

__all__ = ["OPEN_INSTRUMENTATION_PULL_REQUEST", "InstrumentationInput", "wake_with_telemetry"]


class InstrumentationInput(BaseModel):
    reason: str = Field(
        min_length=1,
        max_length=2000,
        description="What the signal lacks for a diagnosis (no error logs behind the alarm, "
        "errors without stack traces) and what the instrumentation will show.",
    )
    function_names: list[str] = Field(
        default_factory=list,
        max_length=5,
        description="The deployed Lambda functions to instrument (default: the signal's).",
    )


def open_instrumentation(ctx: ToolContext, args: InstrumentationInput) -> str:
    inv = ctx.investigation
    repo = Path(inv.repo)
    if not repo.is_dir():
        raise ToolFailed(
            f"the repository {inv.repo} is not a local checkout here, which the instrumentation "
            "needs: ask a person to run `fixloop onboard --function NAME` in it instead"
        )
    functions = args.function_names or watch_of(inv.deploy_watch, ctx.signal).functions
    if not functions:
        raise ToolFailed(
            "no Lambda function to instrument: the signal names none; give function_names"
        )
    try:
        result = deliver_onboarding(repo, github_repo=inv.github_repo, functions=functions)
    except NothingToChange as exc:
        raise ToolFailed(f"{exc}: the telemetry is already set up; look elsewhere") from exc
    except (DeliveryError, FixloopError) as exc:
        raise ToolFailed(f"the instrumentation pull request could not be opened: {exc}") from exc
    pr = result.pull_request
    reason = (
        f"waiting for telemetry: instrumentation pull request #{pr.number} ({pr.url}) "
        f"for {', '.join(functions)}"
    )
    st = stores()
    parked = st.investigations.transition(
        inv.investigation_id,
        ("running",),
        "parked",
        reason[:300],
        changes={"awaiting_telemetry": pr.url},
    )
    if parked:
        st.events.append(
            inv.investigation_id,
            outcome_position(inv.turns, "telemetry"),
            StatusChanged(status="parked", reason=f"{reason}: {args.reason}"[:1000]),
        )
    state = (
        "The investigation is parked now: it resumes when the problem occurs again, with the "
        "new telemetry as its evidence. End your turn."
        if parked
        else "The investigation was not running, so it is not parked."
    )
    return (
        f"Opened instrumentation pull request #{pr.number}: {result.plan.title} ({pr.url}), "
        f"changing {', '.join(result.files)}. {state}"
    )


OPEN_INSTRUMENTATION_PULL_REQUEST = Tool(
    "open_instrumentation_pull_request",
    "When the signal lacks what a diagnosis needs (an alarm with no error logs behind it, "
    "errors without stack traces), open a pull request that instruments the service "
    "(structured error logs with stack traces, error alarms, the subscription to fixloop) and "
    "park this investigation until the next occurrence arrives with the new telemetry. Call "
    "it alone, as your last call before the problem recurs.",
    InstrumentationInput,
    open_instrumentation,
)


def wake_with_telemetry(inv: Investigation, signal: Signal, occurrences: int) -> bool:
    """The problem of ``inv``, parked on its instrumentation pull request, occurred again:
    give it the new occurrences and wake it. False if it was not waiting for telemetry, or
    another delivery woke it first."""
    if inv.status != "parked" or not inv.awaiting_telemetry:
        return False
    # The message first (its id is the turn's): a crash before the wake repeats it once.
    post_message(
        inv.investigation_id,
        text=(
            f"The problem occurred again after the instrumentation pull request "
            f"{inv.awaiting_telemetry}: {occurrences} new occurrence"
            f"{'s' if occurrences != 1 else ''}, {signal.title}. What the service logged "
            f"now:\n{sample_of(signal)}\n\nContinue the diagnosis with this telemetry."
        ),
        author="fixloop",
        channel="signal",
        delivery_id=f"telemetry-{inv.turns}",
        wake=False,
    )
    st = stores()
    if not st.investigations.set_fields(
        inv.investigation_id, {"awaiting_telemetry": ""}, status="parked"
    ):
        return False
    return reopen(st.investigations.get(inv.investigation_id))
