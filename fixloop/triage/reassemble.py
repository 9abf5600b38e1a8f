"""Reassemble stack traces that CloudWatch Logs split into one event per line.

Lambda keeps a multi-line message in one event when it goes through the runtime's logger
(``logging``/``console.error``, the unhandled-error report), but whatever a process writes to
stdout or stderr line by line (``traceback.print_exc()``, ``e.printStackTrace()``, a container
behind the ``awslogs`` driver) arrives as one event per line. :func:`reassemble` joins those
lines back onto the event that started the error.

Rules, for the events of one log stream in stream order:

* A *continuation* line is joined to the open error: Python ``Traceback (most recent call
  last):``, ``  File "...", line N, in f``, the indented source and caret lines after a frame,
  the exception line that ends the frames (``Name: ...`` or ``pkg.Name``), the chaining
  sentences and blank lines between chained tracebacks; Java ``\\tat ...``,
  ``Caused by: ...``, ``\\t... N more``, ``Suppressed: ...``; Node ``    at ...``.
* A line that *starts* an error (an error level such as ``ERROR``/``[ERROR]``/``FATAL``, or an
  exception name such as ``TypeError:``/``java.lang.IllegalStateException``, or
  ``Traceback``) opens a new error and closes the previous one.
* Any other line (``INFO``, ``START RequestId``...) stays a separate event and does *not* close
  the open error, so lines of another request interleaved with a trace do not cut it in two.
  A continuation that arrives with no open error adopts the line just before it as its start
  when that line has no log level (a header that named no error, ``checkout failed:``), or
  else starts a group of its own.
* An event that already holds several lines with frames, or a JSON object, is whole: it is
  kept as it is and never joined to.
* A continuation more than :data:`MAX_GAP` after the open error's last line is not joined.

Every message that comes out, joined or not, is capped at :data:`MAX_MESSAGE_CHARS` by
:func:`trim_message` (head and tail kept, the cut said in the text), so a huge log line is
trimmed, not dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

MAX_MESSAGE_CHARS = 32 * 1024
"""Longest message (in characters) that :func:`reassemble` and the parser keep."""

CUT_NOTE_START = "[... fixloop cut "
"""How the line :func:`trim_message` puts where it cut begins."""

MAX_GAP = timedelta(seconds=5)
"""A continuation line later than this after the open error's last line starts afresh."""

# Shared with the parser (fixloop.triage.stacktrace), which imports them from here.
PY_TRACEBACK = re.compile(r"^Traceback \(most recent call last\):\s*$")
PY_CHAIN = re.compile(
    r"^(?:During handling of the above exception, another exception occurred:"
    r"|The above exception was the direct cause of the following exception:)\s*$"
)
JAVA_MORE = re.compile(r"^\s*\.\.\. (?P<n>\d+) (?:more|common frames omitted)\s*$")

_PY_FRAME = re.compile(r'^\s+File "[^"]*", line \d+')
_PY_EXC_LINE = re.compile(r"^[A-Za-z_][\w.]*(?::|\s*$)")
_JAVA_FRAME = re.compile(r"^\s*at [\w$.<>/@:-]+\([^()]*\)")
_JAVA_CAUSE = re.compile(r"^\s*Caused by: \S")
_JAVA_SUPPRESSED = re.compile(r"^\s+Suppressed: \S")
_NODE_FRAME = re.compile(r"^\s+at \S")
_INDENTED = re.compile(r"^\s+\S")

_LEVEL = re.compile(
    r"(?:^|[\s\[|])(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|FATAL|CRITICAL|SEVERE)(?=[\s\]|:]|$)"
    r"|\blevel=(\w+)"
)
_ERROR_LEVELS = frozenset({"ERROR", "FATAL", "CRITICAL", "SEVERE"})
_PLATFORM = re.compile(r"^(?:START|END|REPORT|INIT_START|INIT_REPORT|EXTENSION|TELEMETRY)\b")
_ERROR_WORDS = re.compile(
    r"\b(?:Traceback|Unhandled|Uncaught|panic)\b"
    r"|(?:^|[\s.:(\[\"'])[A-Z$_][\w$]*(?:Error|Exception|Throwable)\b"
    r"|^(?:Error|Exception)(?::|\s*$)"
    r"|^Exception in thread "
)

_State = Literal["header", "frames", "py_exc", "py_chain"]


def trim_message(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` if it fits in ``limit`` characters, else its head and tail around a note of the cut.

    The head and tail are about half of ``limit`` each, cut at a line break when one is near,
    so a long trace keeps its header and outer frames and its innermost frames and exception
    line. The note says how many characters were cut out of how many.
    """
    if len(text) <= limit:
        return text
    note_room = 120
    keep = max(limit - note_room, 2)
    head_len = keep // 2
    tail_len = keep - head_len
    head = text[:head_len]
    tail = text[len(text) - tail_len :]
    near = min(1000, head_len // 4)
    nl = head.rfind("\n")
    if nl >= head_len - near and nl > 0:
        head = head[: nl + 1]
    nl = tail.find("\n")
    if 0 <= nl < near:
        tail = tail[nl + 1 :]
    cut = len(text) - len(head) - len(tail)
    sep_head = "" if head.endswith("\n") else "\n"
    note = f"{sep_head}{CUT_NOTE_START}{cut} of {len(text)} characters here ...]\n"
    return head + note + tail


def is_error_start(line: str) -> bool:
    """Whether a log line opens an error: an error level, or an exception's name.

    A line whose level is INFO, DEBUG, WARN... is never a start, whatever it mentions; Lambda's
    own ``START``/``END``/``REPORT`` lines neither.
    """
    head = line[:200]
    if _PLATFORM.match(head):
        return False
    level = _LEVEL.search(head[:80])
    if level is not None:
        return (level.group(1) or level.group(2)).upper() in _ERROR_LEVELS
    return _ERROR_WORDS.search(head) is not None


def _has_level(line: str) -> bool:
    """Whether a line carries a log level or is one of Lambda's own lines."""
    head = line[:200]
    return _PLATFORM.match(head) is not None or _LEVEL.search(head[:80]) is not None


def has_frames(text: str) -> bool:
    """Whether ``text`` holds a stack frame of Python, Java or Node."""
    return any(
        _PY_FRAME.match(ln) or _JAVA_FRAME.match(ln) or _NODE_FRAME.match(ln) for ln in _lines(text)
    )


def _lines(text: str) -> list[str]:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\xa0", " ").split("\n")


def _is_json(text: str) -> bool:
    stripped = text.strip()
    return (stripped.startswith("{") and stripped.endswith("}")) or "\t{" in text


_Kind = Literal["tb", "py_frame", "chain", "frame", "cause", "indented", "blank", "other"]


def _kind(line: str) -> _Kind:
    norm = line.replace("\xa0", " ").rstrip("\r\n")
    if not norm.strip():
        return "blank"
    if PY_TRACEBACK.match(norm):
        return "tb"
    if _PY_FRAME.match(norm):
        return "py_frame"
    if PY_CHAIN.match(norm):
        return "chain"
    if _JAVA_CAUSE.match(norm):
        return "cause"
    if (
        _JAVA_FRAME.match(norm)
        or JAVA_MORE.match(norm)
        or _JAVA_SUPPRESSED.match(norm)
        or _NODE_FRAME.match(norm)
    ):
        return "frame"
    if _INDENTED.match(norm):
        return "indented"
    return "other"


@dataclass
class _Slot:
    timestamp: datetime
    lines: list[str]


@dataclass
class _Open:
    slot: _Slot
    last: datetime
    state: _State
    python: bool = False


class _Reassembler:
    def __init__(self) -> None:
        self.out: list[_Slot] = []
        self.cur: _Open | None = None
        self.adoptable: _Slot | None = None  # the standalone line just before, if any

    def feed(self, ts: datetime, message: str) -> None:
        text = message.rstrip("\r\n")
        if self.cur is not None and ts - self.cur.last > MAX_GAP:
            self.cur = None
        prev_adoptable, self.adoptable = self.adoptable, None
        if "\n" in text or "\r" in text or _is_json(text):
            if _is_json(text) or has_frames(text):
                self.out.append(_Slot(ts, [text]))  # whole already
                return
            self._other(ts, text, _lines(text)[0])
            return
        kind = _kind(text)
        if kind in ("py_frame", "frame", "cause", "tb"):
            self._continuation(ts, text, kind, prev_adoptable)
        elif kind == "chain" and self.cur is not None and self.cur.python:
            self._join(ts, text, "py_chain")
        elif kind == "indented" and self._open_in("frames") and self._python():
            self._join(ts, text, "frames")
        elif kind == "blank" and self._open_in("py_exc", "py_chain"):
            assert self.cur is not None
            self._join(ts, text, self.cur.state)
        elif kind in ("chain", "blank"):
            self.out.append(_Slot(ts, [text]))
        elif kind == "indented":
            self._standalone(ts, text)
        else:
            self._other(ts, text, text)

    def _continuation(self, ts: datetime, text: str, kind: _Kind, adopt: _Slot | None) -> None:
        python = kind in ("py_frame", "tb")
        if (
            kind == "tb"
            and not self._open_in("header", "py_chain")
            and (self.cur is not None or adopt is None)
        ):
            # a traceback after a finished error is a new error, unless a header is just before
            self._start(ts, text, "frames", python)
            return
        if self.cur is None:
            if adopt is None:
                self._start(ts, text, "frames", python)
                return
            self.cur = _Open(slot=adopt, last=ts, state="frames")
        self._join(ts, text, "frames", python)

    def _other(self, ts: datetime, text: str, first: str) -> None:
        if self._open_in("frames") and self._python() and _PY_EXC_LINE.match(first):
            self._join(ts, text, "py_exc")  # the exception line that ends a Python traceback
        elif self._open_in("header") and _ERROR_WORDS.search(first):
            # "ERROR ... failed" followed by the exception's own line (log4j, logback)
            self._join(ts, text, "header")
        elif is_error_start(first):
            self._start(ts, text, "header", False)
        else:
            self._standalone(ts, text)

    def _open_in(self, *states: _State) -> bool:
        return self.cur is not None and self.cur.state in states

    def _python(self) -> bool:
        return self.cur is not None and self.cur.python

    def _start(self, ts: datetime, text: str, state: _State, python: bool) -> None:
        slot = _Slot(ts, [text])
        self.out.append(slot)
        self.cur = _Open(slot=slot, last=ts, state=state, python=python)

    def _join(self, ts: datetime, text: str, state: _State, python: bool = False) -> None:
        assert self.cur is not None
        self.cur.slot.lines.append(text)
        self.cur.last = ts
        self.cur.state = state
        self.cur.python = self.cur.python or python

    def _standalone(self, ts: datetime, text: str) -> None:
        slot = _Slot(ts, [text])
        self.out.append(slot)
        if not _has_level(text):
            self.adoptable = slot

    def result(self) -> list[tuple[datetime, str]]:
        return [
            (slot.timestamp, trim_message("\n".join(slot.lines).rstrip("\n"))) for slot in self.out
        ]


def reassemble(events: list[tuple[datetime, str]]) -> list[tuple[datetime, str]]:
    """Join the lines of split stack traces onto the event that started each error.

    ``events`` are ``(timestamp, message)`` of one log stream in stream order (as CloudWatch
    returns them). The result keeps that order by each error's first line; a joined error has
    the timestamp of its first line. Every message is capped by :func:`trim_message`.
    """
    state = _Reassembler()
    for ts, message in events:
        state.feed(ts, message)
    return state.result()
