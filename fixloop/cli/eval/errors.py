"""Errors of ``fixloop eval``. Bad scenarios are :class:`~fixloop.errors.BadInputError`s
(exit 2, before anything runs); these are failures of one run the others survive."""

from __future__ import annotations

from fixloop.errors import FixloopError

__all__ = ["PreparationError"]


class PreparationError(FixloopError):
    """A scenario's repository could not be made: a clone, a download or the patch failed.
    The run is reported as an error, not graded."""
