"""Domain types: signals, investigations, the event log's events, the loop's payloads."""

from fixloop.domain.aftercare import Aftercare, DeployWatch
from fixloop.domain.events import (
    EVENT_ADAPTER,
    AftercareNote,
    AssistantMessage,
    CompactionSummary,
    Delivered,
    Event,
    Failed,
    Note,
    QuestionAsked,
    SignalReceived,
    StatusChanged,
    StreamChunk,
    ToolResult,
    ToolResultsCleared,
    UserMessage,
    Verification,
)
from fixloop.domain.investigation import (
    Investigation,
    LoopState,
    PullRequestRef,
    ToolCallRef,
    ToolTask,
    TurnTask,
    execution_name,
    new_investigation_id,
)
from fixloop.domain.signal import LogLine, Signal, load_signal, parse_signal
from fixloop.domain.titles import clean_title
from fixloop.domain.verification import VerificationReport

__all__ = [
    "EVENT_ADAPTER",
    "Aftercare",
    "AftercareNote",
    "AssistantMessage",
    "CompactionSummary",
    "Delivered",
    "DeployWatch",
    "Event",
    "Failed",
    "Investigation",
    "LogLine",
    "LoopState",
    "Note",
    "PullRequestRef",
    "QuestionAsked",
    "Signal",
    "SignalReceived",
    "StatusChanged",
    "StreamChunk",
    "ToolCallRef",
    "ToolResult",
    "ToolResultsCleared",
    "ToolTask",
    "TurnTask",
    "UserMessage",
    "Verification",
    "VerificationReport",
    "clean_title",
    "execution_name",
    "load_signal",
    "new_investigation_id",
    "parse_signal",
]
