"""The investigation log's event types: a discriminated union that round-trips to JSON.

An event's position in the log (its sort key) is derived from where it was produced, so a
retried step rewrites the same key rather than appending a duplicate:

    t{turn:06d}.{phase}.{detail}

phase 0 holds what the model reads before turn N (the signal, human messages, summaries,
then fixloop's notes: the budget left, why it goes on),
phase 1 the assistant message of turn N, phase 2 its tool results in call order (then
fixloop's verification of a proposed fix, ``t{turn}.2.verification``), phase 3 what ended
the investigation, phase 4 what happened to its fix after the merge (:func:`after_position`).
Positions sort as strings in log order.

While turn N streams, its fragments are written as :class:`StreamChunk` events at
``t{turn}.1.0.{attempt:03d}.{chunk:05d}`` (the digit sorts before ``assistant``, so a turn's
chunks come before its final message). They are for live followers only: the prompt is
rebuilt from the final :class:`AssistantMessage`, never from chunks.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, TypeAdapter

from fixloop.domain.investigation import PullRequestRef
from fixloop.domain.signal import Signal, utcnow
from fixloop.domain.verification import VerificationReport

ContentBlock = dict[str, Any]


class _Event(BaseModel):
    at: datetime = Field(default_factory=utcnow)


class SignalReceived(_Event):
    type: Literal["signal"] = "signal"
    signal: Signal


class UserMessage(_Event):
    type: Literal["user_message"] = "user_message"
    text: str
    author: str = "user"
    channel: str = "cli"
    in_reply_to: str = ""
    """The tool_use id of the ``ask_human`` (or approval) call this message answers: the
    prompt gives it to the model as that call's tool_result."""
    sequence: int = 0
    """Its arrival number in the investigation's inbox (0: written directly to the log)."""


class QuestionAsked(_Event):
    """The model asked a person (``ask_human``), or the loop asks for approval; the loop
    waits for the first reply on any channel."""

    type: Literal["question_asked"] = "question_asked"
    question: str
    options: list[str] = Field(default_factory=list)
    wait_id: str
    tool_use_id: str = ""
    kind: Literal["question", "approval"] = "question"


class AssistantMessage(_Event):
    type: Literal["assistant_message"] = "assistant_message"
    turn: int
    content: list[ContentBlock]
    stop_reason: str
    model: str
    usage: dict[str, int] = Field(default_factory=dict)
    duration_ms: int = 0

    def tool_uses(self) -> list[ContentBlock]:
        return [b for b in self.content if b.get("type") == "tool_use"]

    def text(self) -> str:
        return "\n".join(b["text"] for b in self.content if b.get("type") == "text").strip()


class ContextGathering(_Event):
    """Tool calls fixloop makes itself before turn 1, so the first prompt holds their results
    (the suspect commits of the signal's stack frames). Their results are turn-0 tool results,
    rendered into the first user message as text: the model never sees a tool_use it did not
    make, which keeps extended-thinking transcripts valid."""

    type: Literal["context_gathering"] = "context_gathering"
    calls: list[ContentBlock]
    """tool_use blocks: id, name, input."""

    def tool_uses(self) -> list[ContentBlock]:
        return self.calls


class StreamFragment(BaseModel):
    """Consecutive model fragments of one content block, joined."""

    index: int
    kind: str
    """"text", "thinking" or "tool_input" (partial JSON of a tool call's input)."""
    text: str


class StreamChunk(_Event):
    """A batch of fragments streamed during turn ``turn``, before its final message.

    ``attempt`` numbers the Model Turn invocations that streamed this turn (0, then 1 for a
    retry that called the model again, ...): a follower keeps the draft of the latest attempt
    only and drops every draft of the turn when its :class:`AssistantMessage` arrives.
    """

    type: Literal["stream_chunk"] = "stream_chunk"
    turn: int
    attempt: int
    chunk: int
    fragments: list[StreamFragment]


class ToolResult(_Event):
    type: Literal["tool_result"] = "tool_result"
    turn: int
    tool_use_id: str
    name: str
    content: str
    is_error: bool = False
    duration_ms: int = 0
    by_fixloop: bool = False
    """Written by fixloop itself (a call that was not run, and why), not a tool's output:
    the prompt shows it as fixloop's note, not as untrusted data."""


class CompactionSummary(_Event):
    """Older turns replaced by a summary the model wrote: the prompt is rebuilt from the
    latest summary and the events after ``through``, verbatim."""

    type: Literal["compaction_summary"] = "compaction_summary"
    summary: str
    through: str
    """Position of the last event the summary replaces."""
    model: str = ""
    usage: dict[str, int] = Field(default_factory=dict)
    """What the summary request cost (counted with the turn that compacted)."""
    duration_ms: int = 0
    prompt_tokens_before: int = 0
    """The prompt's size when compaction was decided."""


class ToolResultsCleared(_Event):
    """Large tool results up to ``through`` are shown to the model as a short placeholder
    from here on: the cheap compaction, tried before a summary."""

    type: Literal["tool_results_cleared"] = "tool_results_cleared"
    through: str
    """Position of the last event whose tool results may be cleared."""
    min_chars: int
    """Results longer than this are cleared; shorter ones stay."""
    cleared: int = 0
    """How many results it cleared."""
    prompt_tokens_before: int = 0


class Note(_Event):
    """fixloop's own words to the model before a turn (not a person's, not data): why the
    previous reply did not conclude or was cut off, or the budget left (written by Prepare
    before every turn, the last input the model reads before it). Rendered as text outside
    any untrusted block."""

    type: Literal["note"] = "note"
    turn: int
    """The turn it is read before."""
    kind: Literal["nudge", "cut_off", "paused", "budget"]
    text: str


class StatusChanged(_Event):
    type: Literal["status_changed"] = "status_changed"
    status: str
    reason: str = ""


class Delivered(_Event):
    type: Literal["delivered"] = "delivered"
    kind: Literal["pull_request", "summary"]
    title: str
    body: str
    diff: str = ""
    """The workspace's change against the investigated commit (git diff --binary)."""
    pull_request: PullRequestRef | None = None


class Failed(_Event):
    type: Literal["failed"] = "failed"
    error: str
    cause: str = ""


class Verification(_Event):
    """fixloop's own verification of the change ``open_pull_request`` proposed at ``turn``
    (the call ``tool_use_id``): written at :func:`verification_position` by the trusted side
    from the sandbox's report. Not part of the prompt: the model reads its outcome as the
    call's result when it failed."""

    type: Literal["verification"] = "verification"
    turn: int
    tool_use_id: str
    report: VerificationReport


class AftercareNote(_Event):
    """Something the aftercare saw about the fix that is not a status change: the deployment
    not in production yet, a possible regression, an aftercare step that failed. For
    people; the prompt leaves it out."""

    type: Literal["aftercare_note"] = "aftercare_note"
    kind: Literal["pending", "regression", "failed"]
    text: str


Event = Annotated[
    SignalReceived
    | UserMessage
    | QuestionAsked
    | AssistantMessage
    | ContextGathering
    | StreamChunk
    | ToolResult
    | CompactionSummary
    | ToolResultsCleared
    | Note
    | StatusChanged
    | Delivered
    | Failed
    | Verification
    | AftercareNote,
    Field(discriminator="type"),
]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)

PHASE_INPUT, PHASE_ASSISTANT, PHASE_TOOLS, PHASE_OUTCOME, PHASE_AFTER = 0, 1, 2, 3, 4


def position(turn: int, phase: int, detail: str) -> str:
    return f"t{turn:06d}.{phase}.{detail}"


def signal_position() -> str:
    return position(0, PHASE_INPUT, "signal")


def assistant_position(turn: int) -> str:
    return position(turn, PHASE_ASSISTANT, "assistant")


def context_position() -> str:
    """Where the calls gathered before turn 1 are listed (their results are turn 0's)."""
    return position(0, PHASE_INPUT, "context")


def calls_position(turn: int) -> str:
    """The event holding the tool calls of ``turn``: the context gathering for turn 0,
    else the turn's assistant message."""
    return context_position() if turn == 0 else assistant_position(turn)


STREAM_DETAIL = "0"
"""Phase-1 detail prefix of stream chunks; sorts before ``assistant``."""


def stream_prefix(turn: int) -> str:
    """Every stream chunk of ``turn`` starts with this."""
    return position(turn, PHASE_ASSISTANT, STREAM_DETAIL) + "."


def stream_position(turn: int, attempt: int, chunk: int) -> str:
    return f"{stream_prefix(turn)}{attempt:03d}.{chunk:05d}"


def tool_result_position(turn: int, index: int) -> str:
    return position(turn, PHASE_TOOLS, f"{index:03d}")


def verification_position(turn: int) -> str:
    """Where the verification of turn ``turn``'s ``open_pull_request`` is recorded: after the
    turn's tool results (digits sort before letters), before its outcome."""
    return position(turn, PHASE_TOOLS, "verification")


def compaction_position(turn: int, what: Literal["cleared", "summary"]) -> str:
    """Where the compaction decided before turn ``turn`` is written (a retry finds it)."""
    return position(turn, PHASE_INPUT, f"compaction.{what}")


def note_position(turn: int, kind: str) -> str:
    """Where fixloop's note read before turn ``turn`` is written (one per kind and turn)."""
    return position(turn, PHASE_INPUT, f"note.{kind}")


def outcome_position(turn: int, what: str) -> str:
    return position(turn, PHASE_OUTCOME, what)


AFTER_STEPS = {"merged": 1, "pending": 2, "deployed": 3, "regression": 4, "failed": 5}
"""The order of a round's events (verified and recurred end it: 6)."""


def after_position(turn: int, round_: int, what: str, detail: str = "") -> str:
    """Where the aftercare writes about round ``round_`` of a fix merged after turn ``turn``:
    after that turn's outcome, in the order of :data:`AFTER_STEPS`."""
    step = AFTER_STEPS.get(what, 6)
    tail = f".{detail}" if detail else ""
    return position(turn, PHASE_AFTER, f"r{round_:03d}.{step}.{what}{tail}")
