"""The exception hierarchy of fixloop, in one place.

Every error carries what its caller needs. ``asl_error`` is the name Step Functions sees
(Lambda reports the exception's class name as the error type, so Retry and Catch match on
these class names; keep them stable). ``exit_code`` is what the CLI exits with.
"""

from __future__ import annotations


class FixloopError(Exception):
    """Base of every error fixloop raises on purpose."""

    exit_code = 1

    @property
    def asl_error(self) -> str:
        return type(self).__name__


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


class ModelError(FixloopError):
    """The model provider failed in a way that a retry will not fix."""


class TransientError(FixloopError):
    """A failure worth retrying; the ASL retries every subclass with backoff."""


class ModelThrottled(TransientError):
    """The provider rate-limited (429) or was overloaded (529) after the SDK's own retries."""


class ModelUnavailable(TransientError):
    """The provider failed with a 5xx or a connection error after the SDK's own retries."""


class ToolFailed(FixloopError):
    """A tool could not do what was asked; the model sees the message as an is_error result."""


class InjectedFault(TransientError):
    """Raised by fault injection in tests; retried like any transient failure."""
