"""The initial context: what fixloop gathers itself before the model's first turn.

The first prompt holds the signal (first and latest occurrence, counts, a sample of the log
lines); with a repository, its overview (languages, layout, the test command found, recent
commits touching the frames' files, the README's first lines); and, when the signal carries
application stack frames, the suspect commits: the last changes to those lines, found with
git blame in the sandbox. Gathering runs through the
same Map, dispatch and sandbox as the model's tool calls (turn 0), so it is as durable as
they are, and a failure reaches the model as a line of the first prompt instead of stopping
the investigation.
"""

from __future__ import annotations

from fixloop.domain import Investigation, Signal
from fixloop.domain.events import ContentBlock
from fixloop.sandbox.tools import REPOSITORY_OVERVIEW, SUSPECT_COMMITS
from fixloop.triage import application_frames

OVERVIEW_CALL_ID = "context-repository-overview"
SUSPECT_COMMITS_CALL_ID = "context-suspect-commits"


def initial_calls(investigation: Investigation, signal: Signal) -> list[ContentBlock]:
    """tool_use blocks to run before turn 1; empty when there is nothing to gather."""
    if not investigation.repo:
        return []
    calls: list[ContentBlock] = [_call(OVERVIEW_CALL_ID, REPOSITORY_OVERVIEW.name)]
    if application_frames("\n".join(line.message for line in signal.log_lines)):
        calls.append(_call(SUSPECT_COMMITS_CALL_ID, SUSPECT_COMMITS.name))
    return calls


def _call(call_id: str, name: str) -> ContentBlock:
    return {"type": "tool_use", "id": call_id, "name": name, "input": {}}
