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
    QuestionAsked,
    SignalReceived,
    StatusChanged,
    StreamChunk,
    ToolResult,
    ToolResultsCleared,
    UserMessage,
)
from fixloop.domain.investigation import (
    Investigation,
    LoopState,
    PullRequestRef,
    ToolCallRef,
    ToolTask,
    execution_name,
    new_investigation_id,
)
from fixloop.domain.signal import LogLine, Signal, load_signal, parse_signal
from fixloop.domain.titles import clean_title

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
    "UserMessage",
    "clean_title",
    "execution_name",
    "load_signal",
    "new_investigation_id",
    "parse_signal",
]
