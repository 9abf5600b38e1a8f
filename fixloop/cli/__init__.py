"""The ``fixloop`` command line: commands, following a run, and what it keeps of it."""

from fixloop.cli.main import main

__all__ = ["main"]
