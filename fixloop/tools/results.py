"""Every tool call gets exactly one result: the one module that writes tool results.

The Messages API refuses a transcript in which a ``tool_use`` is not answered by a
``tool_result`` in the next message, so every call a turn makes must end with a result in
the log at its position (:func:`~fixloop.domain.events.tool_result_position`), whether it
ran (Run Tool, the sandbox), failed after its retries (Record Tool Failure), or was never run
(the turn concluded, waited for a person, or was deferred by new messages). Writes are first
writer wins, so a retried step that answers again changes nothing, and a call already
answered is never answered twice.

A person's reply to a waiting call is the other way a call is answered: it is a
:class:`~fixloop.domain.events.UserMessage` with ``in_reply_to`` (moved by
:func:`fixloop.conversation.drain`), which the prompt gives as that call's result.
"""

from __future__ import annotations

from collections.abc import Iterable

from fixloop.domain.events import ToolResult, tool_result_position
from fixloop.store import stores
from fixloop.tools.calls import Call

__all__ = ["answer_unrun", "has_result", "record_result"]


def has_result(investigation_id: str, turn: int, index: int) -> bool:
    return stores().events.get(investigation_id, tool_result_position(turn, index)) is not None


def record_result(
    investigation_id: str,
    turn: int,
    call: Call,
    content: str,
    *,
    is_error: bool = False,
    duration_ms: int = 0,
    by_fixloop: bool = False,
) -> bool:
    """Write the call's result; False if it already had one (first writer wins).
    ``by_fixloop``: the text is fixloop's own note, not a tool's output."""
    return stores().events.append(
        investigation_id,
        tool_result_position(turn, call.index),
        ToolResult(
            turn=turn,
            tool_use_id=call.id,
            name=call.name,
            content=content,
            is_error=is_error,
            duration_ms=duration_ms,
            by_fixloop=by_fixloop,
        ),
    )


def answer_unrun(investigation_id: str, turn: int, calls: Iterable[Call], why: str) -> None:
    """Answer calls that will not run with an error result saying why, so the transcript
    stays valid and the model knows what happened to them."""
    for call in calls:
        record_result(investigation_id, turn, call, why, is_error=True, by_fixloop=True)
