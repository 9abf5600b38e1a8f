"""How much the sandbox takes: the size of files written, of the change, of a command's /tmp.

One place for the numbers, so the tools' messages, the snapshot and the confinement agree
(a command's process and file size limits are settings: ``FIXLOOP_SANDBOX_MAX_*``).
"""

from __future__ import annotations

__all__ = [
    "COMMAND_TMP_BYTES",
    "MAX_WRITE_BYTES",
    "SNAPSHOT_BINARY_FILE_BYTES",
    "SNAPSHOT_TEXT_FILE_BYTES",
    "SNAPSHOT_TOTAL_BYTES",
    "megabytes",
]

MAX_WRITE_BYTES = 1_000_000
"""write_file's content and edit_file's new_text are refused above this."""

SNAPSHOT_TEXT_FILE_BYTES = 2_000_000
"""A new or changed text file larger than this is left out of the change."""

SNAPSHOT_BINARY_FILE_BYTES = 256_000
"""A new or changed binary file larger than this is left out of the change (a small fixture
or icon is part of a fix; a build output or a data dump is not)."""

SNAPSHOT_TOTAL_BYTES = 10_000_000
"""The change holds at most this many bytes of new content; files past it are left out."""

COMMAND_TMP_BYTES = 1_073_741_824
"""The size of a command's private /tmp (a tmpfs, where the platform gives one)."""


def megabytes(size: int) -> str:
    """A size as people read it: "30 MB", "1.5 MB", "200 KB"."""
    if size >= 10_000_000:
        return f"{size // 1_000_000} MB"
    if size >= 1_000_000:
        return f"{size / 1_000_000:.1f} MB"
    return f"{max(size // 1_000, 1)} KB" if size >= 1_000 else f"{size} bytes"
