"""The signal in bounded pieces: the first prompt's view of it, and ``get_signal``'s pages.

A CloudWatch Logs delivery can carry hundreds of error lines of tens of kilobytes each. The
first prompt holds a view bounded from the first turn: each log line cut to
``line_chars`` (head and tail kept, the cut said), and the whole section kept under
``max_chars`` of JSON text (what the local token estimate counts): the first and the latest
occurrence always, then an even sample of the lines between them as far as the budget goes,
the lines left out counted where they were. ``get_signal`` reads the rest in pages
(:func:`signal_page`): by log line (``offset``, ``limit``), and within a line longer than a
page (``char_offset``).
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass

from fixloop.domain.signal import Signal, cut_middle

__all__ = ["SignalSection", "prompt_section", "signal_page"]

_GAP_COST = 60
"""Room kept for each "[... N log lines not shown ...]" marker."""


@dataclass(frozen=True)
class SignalSection:
    text: str
    shown: int
    """Log lines in the view (some maybe cut)."""
    total: int
    complete: bool
    """Every line is in the view, uncut: the view is the whole signal."""


def _size(text: str) -> int:
    """Characters ``text`` takes in a JSON request (escapes counted): the local estimate's
    measure (:func:`fixloop.llm.caching.estimate_tokens`)."""
    return len(json.dumps(text)) - 2


def _spread(first: int, last: int) -> list[int]:
    """Indices from ``first`` to ``last``, midpoints first (an even sample at any length)."""
    order: list[int] = []
    todo = deque([(first, last)])
    while todo:
        lo, hi = todo.popleft()
        if lo > hi:
            continue
        mid = (lo + hi) // 2
        order.append(mid)
        todo.extend(((lo, mid - 1), (mid + 1, hi)))
    return order


def prompt_section(signal: Signal, *, max_chars: int, line_chars: int) -> SignalSection:
    """The signal as the first prompt shows it, bounded by ``max_chars`` (JSON characters)."""
    header = signal.header_lines(value_chars=line_chars)
    n = len(signal.log_lines)
    if not n:
        return SignalSection("\n".join(header), 0, 0, True)
    rendered = [
        f"[{ln.timestamp.isoformat()}] {cut_middle(ln.message, line_chars)}"
        for ln in signal.log_lines
    ]
    cut = any(len(ln.message) > line_chars for ln in signal.log_lines)
    everything = "\n".join([*header, f"Log lines ({n}):", *rendered])
    if _size(everything) <= max_chars:
        return SignalSection(everything, n, n, not cut)

    room = max_chars - _size("\n".join(header)) - 200
    chosen = {0, n - 1}
    used = sum(_size(rendered[i]) + 1 for i in chosen) + _GAP_COST
    for i in _spread(1, n - 2):
        cost = _size(rendered[i]) + 1 + _GAP_COST
        if used + cost <= room:
            chosen.add(i)
            used += cost
    shown = sorted(chosen)
    lines: list[str] = []
    previous = -1
    for i in shown:
        if i - previous > 1:
            lines.append(f"[... {i - previous - 1} log lines not shown ...]")
        lines.append(rendered[i])
        previous = i
    what = f"{len(shown)} shown: the first, the latest and an even sample between them"
    if cut:
        what += f"; lines over {line_chars:,} characters cut"
    text = "\n".join([*header, f"Log lines ({n}; {what}):", *lines])
    return SignalSection(text, len(shown), n, False)


def signal_page(
    signal: Signal,
    *,
    offset: int = 0,
    limit: int | None = None,
    char_offset: int = 0,
    max_chars: int,
) -> str:
    """A page of the signal of at most ``max_chars`` characters: the whole signal when it
    fits (and the page starts at the top); else the header (first page only) and log lines
    ``offset``... (numbered from 0), ending with how to read on."""
    n = len(signal.log_lines)
    whole = offset == 0 and char_offset == 0 and (limit is None or limit >= n)
    full = signal.render()
    if whole and len(full) <= max_chars:
        return full
    if n and offset >= n:
        return f"The signal has {n} log lines (0 to {n - 1}): there is no line {offset}."
    room = max(max_chars - 200, 100)
    out: list[str] = []
    if offset == 0 and char_offset == 0:
        out.append(cut_middle("\n".join(signal.header_lines()), room // 2))
    used = sum(len(p) + 1 for p in out)
    end = n if limit is None else min(n, offset + limit)
    first_line = len(out)
    i = offset
    more = ""
    while i < end:
        line = signal.log_lines[i]
        start = char_offset if i == offset else 0
        prefix = f"[{i}] [{line.timestamp.isoformat()}] " + ("..." if start else "")
        entry = prefix + line.message[start:]
        if used + len(entry) + 1 <= room:
            out.append(entry)
            used += len(entry) + 1
            i += 1
            continue
        if len(out) == first_line:  # the line alone is longer than a page: a piece of it
            take = max(room - used - len(prefix) - 1, 1)
            out.append(prefix + line.message[start : start + take])
            more = (
                f"log line {i} goes on: call get_signal with offset={i}, char_offset={start + take}"
            )
        break
    if not more and i < n:
        more = f"more log lines: call get_signal with offset={i}"
    last = i - 1 if i > offset else offset
    shown = f"log lines {offset} to {last} of {n}" if n else "no log lines"
    out.insert(first_line, f"Signal page: {shown} (numbered from 0).")
    if more:
        out.append(f"[{more}]")
    return "\n".join(out)
