"""Attack 3: a regular expression that backtracks exponentially (``(a+)+$``) would hold the
sandbox (Python's ``re`` keeps the GIL: no heartbeat, no other call); a huge workspace would
keep a search going without end."""

from __future__ import annotations

import time

import pytest

from fixloop.errors import ToolFailed
from fixloop.sandbox import Workspace
from fixloop.sandbox.tools.search import SearchBounds, search_workspace
from tests.security.calls import call


def test_a_catastrophic_pattern_matches_in_linear_time(ws: Workspace) -> None:
    # Given a line of 31 a's that (a+)+$ cannot match, and one it can
    (ws.root / "data.txt").write_text("a" * 31 + "!\n" + "a" * 31 + "\n")
    # When it is searched for
    started = time.monotonic()
    out = call("search_code", ws, pattern="(a+)+$")
    # Then the answer comes at once (Python's re takes minutes on the first line)
    assert time.monotonic() - started < 2
    assert out == "1 matches\ndata.txt:2:" + "a" * 31


@pytest.mark.parametrize("pattern", [r"(\w+) \1", r"foo(?=bar)", r"(?<!x)y"])
def test_patterns_re2_cannot_match_in_linear_time_are_refused_clearly(
    ws: Workspace, pattern: str
) -> None:
    with pytest.raises(ToolFailed, match="RE2 syntax: no backreferences or lookaround"):
        call("search_code", ws, pattern=pattern)


def test_a_search_stops_at_its_bounds_and_says_so(ws: Workspace) -> None:
    # Given four files that all match
    for n in range(4):
        (ws.root / f"f{n}.txt").write_text("needle\n")
    names = ws.files(glob="f*.txt")
    # When the search may read two files, Then it stops there and says what to do
    out = search_workspace(ws, "needle", names, SearchBounds(files=2))
    assert out.splitlines()[0] == (
        "2 matches (search stopped after 2 of 4 files because 2 files were read; narrow the "
        "path or glob to search the rest)"
    )
    # and likewise for bytes and time
    assert "because 7 bytes were read" in search_workspace(ws, "x", names, SearchBounds(bytes=7))
    assert "because it took over 0s" in search_workspace(ws, "x", names, SearchBounds(seconds=0))
