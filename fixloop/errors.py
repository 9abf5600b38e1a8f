"""The exception hierarchy of fixloop, in one place, with the retry policy of each error.

Every error carries what its caller needs. ``asl_error`` is the name Step Functions sees:
Lambda reports the exception's class name as the error type, and a task token failed by the
sandbox names it the same way, so Retry and Catch match on these class names, *exactly* (a
Retry entry that names a base class does not cover its subclasses). The names are an
interface: every error that can leave a Lambda function or the sandbox and that a Retry
must tell apart is defined here, so :func:`transient_error_names` and
:func:`permanent_error_names` can list them all, and a test checks that every Task's Retry of
the state machine lists exactly those. ``exit_code`` is what the CLI exits with.

Policies: every :class:`TransientError` is retried with backoff; every :class:`BadInputError`,
:class:`ConfigError`, :class:`NotFoundError` and :class:`ModelError` fails at once; any other
error gets the state machine's default (two more attempts).

This module imports nothing of fixloop, so every layer can raise these errors.
"""

from __future__ import annotations

__all__ = [
    "BadInputError",
    "ConfigError",
    "EventNotFound",
    "FixloopError",
    "InjectedFault",
    "InvestigationNotFound",
    "ModelError",
    "ModelThrottled",
    "ModelUnavailable",
    "NotFoundError",
    "SandboxUnavailable",
    "ScriptError",
    "SignalError",
    "StorageConflict",
    "StorageThrottled",
    "ToolFailed",
    "TransientError",
    "error_classes",
    "permanent_error_names",
    "transient_error_names",
]


class FixloopError(Exception):
    """Base of every error fixloop raises on purpose."""

    exit_code = 1

    @property
    def asl_error(self) -> str:
        return type(self).__name__


# ---------------------------------------------------------------------------- permanent


class BadInputError(FixloopError):
    """Input from a user or a file is invalid; the message says what and where."""

    exit_code = 2


class SignalError(BadInputError):
    """A signal file or payload is not one of the formats fixloop accepts."""


class ScriptError(BadInputError):
    """A scripted-model file is malformed (bad JSON, unknown tool, wrong shape)."""


class ConfigError(FixloopError):
    """The environment or configuration is incomplete."""

    exit_code = 3


class NotFoundError(FixloopError):
    """A record (investigation, event) does not exist."""

    exit_code = 4


class InvestigationNotFound(NotFoundError):
    """No investigation has this id (the record is read consistently: a retry cannot help)."""

    def __init__(self, investigation_id: str) -> None:
        super().__init__(f"no investigation {investigation_id}")
        self.investigation_id = investigation_id


class EventNotFound(NotFoundError):
    """The investigation's log has no event at this position."""

    def __init__(self, investigation_id: str, position: str) -> None:
        super().__init__(f"investigation {investigation_id} has no event at {position}")


class ModelError(FixloopError):
    """The model provider failed in a way that a retry will not fix."""


# ---------------------------------------------------------------------------- transient


class TransientError(FixloopError):
    """A failure worth retrying; the ASL retries every subclass with backoff."""


class ModelThrottled(TransientError):
    """The provider rate-limited (429) or was overloaded (529) after the SDK's own retries."""


class ModelUnavailable(TransientError):
    """The provider failed with a 5xx or a connection error after the SDK's own retries."""


class StorageThrottled(TransientError):
    """DynamoDB or S3 throttled after the SDK's retries."""


class StorageConflict(TransientError):
    """A DynamoDB transaction was cancelled by a concurrent one on the same item
    (``TransactionConflict``); nothing was written, and the SDK does not retry it."""


class SandboxUnavailable(TransientError):
    """No sandbox could be started or reached; the state machine retries the call."""


class InjectedFault(TransientError):
    """Raised by fault injection in tests; retried like any transient failure."""


# ---------------------------------------------------------------------------- other


class ToolFailed(FixloopError):
    """A tool could not do what was asked; the model sees the message as an is_error result."""


# ---------------------------------------------------------------------------- the interface

_PERMANENT_BASES: tuple[type[FixloopError], ...] = (
    BadInputError,
    ConfigError,
    NotFoundError,
    ModelError,
)


def _family(base: type[FixloopError]) -> list[type[FixloopError]]:
    """``base`` and its subclasses, depth first in the order they were defined."""
    found = [base]
    for sub in base.__subclasses__():
        found.extend(_family(sub))
    return found


def error_classes() -> list[type[FixloopError]]:
    """Every subclass of :class:`FixloopError` defined so far (this module's and any other's
    that has been imported), depth first."""
    return _family(FixloopError)[1:]


def transient_error_names() -> list[str]:
    """The error names a Retry backs off on: :class:`TransientError` and its subclasses."""
    return [cls.__name__ for cls in _family(TransientError)]


def permanent_error_names() -> list[str]:
    """The error names a Retry never retries: the permanent families, bases first."""
    return [cls.__name__ for base in _PERMANENT_BASES for cls in _family(base)]
