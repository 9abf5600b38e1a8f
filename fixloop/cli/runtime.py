"""Where the CLI runs investigations: the embedded runtime, or the local AWS that
``AWS_ENDPOINT_URL`` names; and what it keeps of each one when it ends."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fixloop.cli import records
from fixloop.cli.watch import Watcher
from fixloop.errors import BadInputError
from fixloop.store import stores

if TYPE_CHECKING:
    from fixloop.local.live import LiveServer

# fixloop.local (moto, the local servers) is imported when a command starts the embedded
# runtime, not here: `fixloop show` and argument errors should not pay for loading moto.

__all__ = ["keep", "open_runtime"]


@contextmanager
def open_runtime(
    say: Callable[[str], None],
    live_port: int | None = None,
    settings: dict[str, str | None] | None = None,
) -> Iterator[tuple[Watcher, LiveServer | None]]:
    """The embedded runtime, or the local AWS that ``AWS_ENDPOINT_URL`` names.

    That one setting points every client at a local AWS: unset, fixloop starts its own
    (moto in this process); set (a LocalStack, or another fixloop's embedded runtime), it
    uses the fixloop deployed there. With ``live_port`` (embedded runtime only) the live
    view, WebSocket API and MCP are served too. The command's own requests (starting and
    following the run) are spared by the embedded runtime's chaos (``FIXLOOP_CHAOS``): it
    observes the system under test rather than being part of it. ``settings`` (``FIXLOOP_*``
    settings by their lower-case names) configure the embedded runtime; a deployed one keeps
    its own.
    """
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        if live_port is not None:
            raise BadInputError("--live serves the embedded runtime only: unset AWS_ENDPOINT_URL")
        watcher = Watcher.find()
        say(f"runtime    local AWS at {endpoint} ({watcher.state_machine_arn})")
        yield watcher, None
        return
    from fixloop.local.live import LiveServer
    from fixloop.local.patches import chaos
    from fixloop.local.runtime import EmbeddedRuntime

    with EmbeddedRuntime(settings) as rt, chaos.observed(say):
        say(f"runtime    embedded (moto on {rt.endpoint_url}, real ASL, in-process Lambdas)")
        if live_port is None:
            yield Watcher(rt.state_machine_arn), None
            return
        with LiveServer(rt, port=live_port) as live:
            say(f"live       {live.view_url()}  (MCP: {live.url}/mcp/ with this token)")
            yield Watcher(rt.state_machine_arn), live


def keep(watcher: Watcher, investigation_id: str, duration_s: float) -> tuple[dict[str, Any], Path]:
    """The summary of an ended investigation (``--json``), and where its record was saved
    (its summary and whole event log, for ``fixloop show``)."""
    summary = watcher.summary(investigation_id, duration_s=duration_s)
    data = summary.as_json()
    saved = records.save(
        data,
        summary.investigation.model_dump(mode="json"),
        list(stores().events.read(investigation_id)),
    )
    return data, saved
