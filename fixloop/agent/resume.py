"""Messages from people after the loop has stopped, and waking the loop for them."""

from __future__ import annotations

import json

from botocore.exceptions import ClientError

from fixloop import aws
from fixloop.config import get_settings
from fixloop.domain import Investigation, LoopState, UserMessage, execution_name
from fixloop.domain.events import PHASE_INPUT, position
from fixloop.domain.investigation import Status
from fixloop.store import stores

REOPENABLE: tuple[Status, ...] = ("delivered",)
"""A delivered investigation wakes up for review feedback; other ended ones stay ended."""


def post_message(
    investigation: Investigation,
    *,
    text: str,
    author: str,
    channel: str,
    delivery_id: str,
    wake: bool = True,
) -> bool:
    """Put a message into the log where the next turn reads it, and (``wake``) wake the loop
    if it stopped after delivering. False when this delivery was seen before (a redelivery)."""
    st = stores()
    if not st.investigations.remember_delivery(
        investigation.investigation_id, f"{channel}:{delivery_id}"
    ):
        return False
    inv = st.investigations.get(investigation.investigation_id)
    st.events.append(
        inv.investigation_id,
        position(inv.turns + 1, PHASE_INPUT, f"msg.{channel}.{delivery_id}"),
        UserMessage(text=text, author=author, channel=channel),
    )
    if (
        wake
        and inv.status in REOPENABLE
        and st.investigations.transition(
            inv.investigation_id, REOPENABLE, "running", f"revising after feedback from {author}"
        )
    ):
        _start_next_generation(inv)
    return True


def _start_next_generation(inv: Investigation) -> None:
    generation = inv.generation + 1
    try:
        aws.client("stepfunctions").start_execution(
            stateMachineArn=get_settings().state_machine_arn,
            name=execution_name(inv.investigation_id, generation),
            input=json.dumps(
                LoopState(
                    investigation_id=inv.investigation_id, generation=generation, turn=inv.turns
                ).payload()
            ),
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ExecutionAlreadyExists":
            raise
