"""Triage: from error log text to grouped problems, without AWS.

``reassemble`` joins stack traces that CloudWatch Logs split into one event per line,
``parse_error`` reads one error into an :class:`ErrorOccurrence`, ``error_fingerprint`` and
``group`` say which occurrences are the same problem, ``alarm_fingerprint`` does it for alarms.
``origin`` says whose code a frame is in (the one list of library and runtime code), and
``application_frames`` reads the application's frames out of log text (for git blame).
"""

from fixloop.triage.fingerprint import (
    alarm_fingerprint,
    error_fingerprint,
    group,
    normalise_message,
    significant_frames,
)
from fixloop.triage.frames import AppFrame, FrameKind, Origin, application_frames, origin
from fixloop.triage.reassemble import MAX_MESSAGE_CHARS, reassemble, trim_message
from fixloop.triage.stacktrace import (
    ErrorOccurrence,
    Frame,
    Language,
    looks_like_error,
    parse_error,
    parse_events,
)

__all__ = [
    "MAX_MESSAGE_CHARS",
    "AppFrame",
    "ErrorOccurrence",
    "Frame",
    "FrameKind",
    "Language",
    "Origin",
    "alarm_fingerprint",
    "application_frames",
    "error_fingerprint",
    "group",
    "looks_like_error",
    "normalise_message",
    "origin",
    "parse_error",
    "parse_events",
    "reassemble",
    "significant_frames",
    "trim_message",
]
