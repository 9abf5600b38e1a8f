"""Domain types: signals, investigations, the event log's events, the loop's payloads."""

from fixloop.domain.events import (
    EVENT_ADAPTER,
    AssistantMessage,
    CompactionSummary,
    Delivered,
    Event,
    Failed,
    SignalReceived,
    StatusChanged,
    StreamChunk,
    ToolResult,
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

__all__ = [
    "EVENT_ADAPTER",
    "AssistantMessage",
    "CompactionSummary",
    "Delivered",
    "Event",
    "Failed",
    "Investigation",
    "LogLine",
    "LoopState",
    "PullRequestRef",
    "Signal",
    "SignalReceived",
    "StatusChanged",
    "StreamChunk",
    "ToolCallRef",
    "ToolResult",
    "ToolTask",
    "UserMessage",
    "execution_name",
    "load_signal",
    "new_investigation_id",
    "parse_signal",
]
