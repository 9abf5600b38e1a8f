"""Calling the code tools as the sandbox does, and looking at this machine's processes from
outside any namespace."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fixloop.agent.toolset import default_registry
from fixloop.domain import Investigation, parse_signal
from fixloop.sandbox import Workspace
from fixloop.sandbox.tools import SandboxContext
from tests.support import alarm_event, processes_with

__all__ = ["call", "peak_memory", "processes_with", "sandbox_pid"]


def call(name: str, ws: Workspace, **inp: object) -> str:
    """Run a code tool on ``ws`` as the sandbox server runs it (ToolFailed for a tool error)."""
    tool = default_registry().get(name)
    assert tool is not None and tool.run is not None
    inv = Investigation(
        investigation_id="inv-sec", title="t", repo="r", commit="c", model="scripted:x"
    )
    ctx = SandboxContext(
        investigation=inv,
        signal=parse_signal(alarm_event()),
        max_output_chars=30_000,
        workspace=ws,
    )
    return tool.run(ctx, tool.parse_input(inp))


def sandbox_pid(investigation_id: str) -> int | None:
    """The sandbox server process serving an investigation, if one is running."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        wanted = f"FIXLOOP_SANDBOX_INVESTIGATION={investigation_id}".encode()
        if b"fixloop.sandbox" in cmdline and wanted in environ.split(b"\0"):
            return int(entry.name)
    return None


@contextmanager
def peak_memory(investigation_id: str) -> Iterator[list[int]]:
    """While the block runs, follow the peak resident memory (VmHWM, bytes) of every sandbox
    process of the investigation; yields a list holding the largest seen."""
    peak = [0]
    done = threading.Event()

    def follow() -> None:
        while not done.wait(0.05):
            pid = sandbox_pid(investigation_id)
            if pid is None:
                continue
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    peak[0] = max(peak[0], int(line.split()[1]) * 1024)

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        done.set()
        thread.join()
