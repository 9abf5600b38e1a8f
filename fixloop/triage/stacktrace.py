"""Parse error log text into an :class:`ErrorOccurrence`: exception, frames, language.

Formats understood (each possibly behind a Lambda or a generic log prefix, which is stripped
and read for the timestamp and request id):

* **Python** tracebacks, chained ones included ("During handling of the above exception..." /
  "The above exception was the direct cause..."): the *last* exception is the error, with the
  frames of its own traceback (the earlier tracebacks' frames are kept apart, as
  ``chained_frames``); a frame line is read with or without its indentation. Lambda's
  unhandled-error report (``[ERROR] KeyError: 'x'`` then the traceback without a final
  exception line, indented with no-break spaces), the text log format
  (``[ERROR]\\t<time>\\t<request id>\\t<message>``), Lambda's JSON log format
  (``errorType``/``errorMessage``/``stackTrace``) and Powertools JSON logs (``exception``,
  ``exception_name``).
* **Node.js** stacks (``TypeError: ...`` then ``    at fn (/var/task/index.js:12:34)``), also
  in Lambda's ``Invoke Error``/``Uncaught Exception``/``Unhandled Promise Rejection`` JSON
  (``errorType``/``errorMessage``/``stack``; an unhandled rejection reports its ``reason``)
  and Powertools for TypeScript (``error: {name, message, stack}``).
* **Java** stacks (``java.lang.X: msg`` or ``Exception in thread "main" ...`` then
  ``\\tat com.acme.Foo.bar(Foo.java:42)``): the last ``Caused by`` is the error; frames elided
  as ``... N more`` are the enclosing trace's last N frames, so they are taken from there (the
  enclosing exceptions' own frames are the ``chained_frames``). Lambda's Java JSON report
  (``stackTrace`` as a list, ``cause`` nested) too.
* Anything else is a plain error line: language ``unknown``, no frames, the message without
  its log prefix (and an exception type when the line starts with one, ``ValueError: ...``).

Frames are always in *calling order*: the outermost caller first, the frame that raised last
(Python's order; Node and Java print the other way round and are reversed).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from fixloop.triage.prefix import LEVELS, parse_time, strip_prefix
from fixloop.triage.reassemble import (
    CUT_NOTE_START,
    JAVA_MORE,
    PY_CHAIN,
    PY_TRACEBACK,
    has_frames,
    is_error_start,
    reassemble,
    trim_message,
)

Language = Literal["python", "node", "java", "unknown"]


class Frame(BaseModel):
    """One stack frame. ``line`` is ``None`` where the trace gives none (native code...)."""

    file: str
    line: int | None = None
    function: str = ""


class ErrorOccurrence(BaseModel):
    """One error as logged: what was raised, where, when, and the text it came from."""

    exception_type: str
    """As printed (``KeyError``, ``botocore.exceptions.ClientError``, ``java.lang.X``); empty
    when the text names no exception."""
    message: str
    """The exception's message; for a plain error line, the line without its log prefix."""
    frames: list[Frame] = Field(default_factory=list)
    """Calling order: outermost first, where it was raised last."""
    chained_frames: list[Frame] = Field(default_factory=list)
    """The frames of the other exceptions of its chain (Python's earlier tracebacks, Java's
    enclosing exceptions), in the order they were printed, each exception's in calling order.
    Not part of the fingerprint; suspect commits blame them too."""
    language: Language
    timestamp: datetime | None = None
    """The log event's time, else a time found in the text."""
    raw: str
    """The text parsed (capped at ``MAX_MESSAGE_CHARS``)."""
    log_message: str = ""
    """What the application logged with the exception (``logger.exception("...")``)."""
    request_id: str | None = None


# ---------------------------------------------------------------------------- line patterns

_PY_FRAME = re.compile(r'^\s*File "(?P<file>[^"]*)", line (?P<line>\d+)(?:, in (?P<fn>.+))?$')
_PY_EXC = re.compile(r"^(?P<type>[A-Za-z_][\w.]*)(?::\s?(?P<msg>.*))?$")

_JAVA_FRAME = re.compile(r"^\s*at (?P<fn>[\w$.<>/@:-]+)\((?P<loc>[^()]*)\)")
_JAVA_CAUSE = re.compile(r"^Caused by: (?P<rest>.*)$")
_JAVA_MODULE = re.compile(r"^[\w.@-]*/(?:[\w.@-]*/)?")  # java.base/, app//; not $$Lambda$1/0x..
_JAVA_SUPPRESSED = re.compile(r"^\s+Suppressed: ")
_JAVA_THREAD = re.compile(r'^Exception in thread "[^"]*"\s+')
_JAVA_HEADER = re.compile(
    r"^(?P<type>(?:[A-Za-z_$][\w$]*\.)+[A-Za-z_$][\w$]*|[A-Z][\w$]*(?:Exception|Error|Throwable))"
    r"(?::\s?(?P<msg>.*))?$"
)
_JAVA_BODY = re.compile(r"^[\w$.<>/@:-]+\([^()]*\)$")

_NODE_FRAME = re.compile(r"^\s+at (?:async )?(?P<body>\S.*)$")
_NODE_LOC = re.compile(r"^(?P<file>.+?):(?P<line>\d+)(?::\d+)?$")
_NODE_HEADER = re.compile(r"^(?P<type>[A-Z$_][\w$.]*(?: \[[\w.-]+\])?)(?::\s?(?P<msg>.*))?$")
_NAMED_ERROR = re.compile(
    r"(?:^|(?<=[\s(\[\"']))(?P<type>(?:[A-Za-z_$][\w$]*\.)*[A-Z][\w$]*"
    r"(?:Error|Exception|Throwable|Fault|Interrupt|Exit))(?::\s?(?P<msg>.*)|$)"
)
_LEADING_ERROR = re.compile(
    r"^(?P<type>(?:[A-Za-z_$][\w$]*\.)*[A-Z][\w$]*"
    r"(?:Error|Exception|Throwable|Fault|Interrupt|Exit))(?::\s?(?P<msg>.*))?$"
)

_LAMBDA_NODE_LABELS = frozenset(
    {"Invoke Error", "Uncaught Exception", "Unhandled Promise Rejection"}
)
"""Labels Lambda's Node runtime puts before its JSON error report; not a logged message."""


@dataclass
class _Parsed:
    language: Language = "unknown"
    exception_type: str = ""
    message: str = ""
    frames: list[Frame] = field(default_factory=list)
    chained: list[Frame] = field(default_factory=list)
    log_message: str = ""
    timestamp: datetime | None = None
    request_id: str | None = None


# ---------------------------------------------------------------------------- public API


def parse_error(text: str, timestamp: datetime | None = None) -> ErrorOccurrence:
    """Parse one error (one log event, reassembled if it was split) into an occurrence.

    ``timestamp`` is the log event's; when it is ``None`` a time in the text (the Lambda
    prefix, a JSON ``timestamp``) is used, if any. Never raises on odd input: what cannot be
    read as a trace is a plain error line.
    """
    raw = trim_message(text)
    norm = raw.replace("\r\n", "\n").replace("\r", "\n").replace("\xa0", " ")
    parsed = _from_json_text(norm)
    if parsed is None:
        parsed = _from_text(norm)
    ts = timestamp or parsed.timestamp
    return ErrorOccurrence(
        exception_type=parsed.exception_type,
        message=parsed.message.strip(),
        frames=parsed.frames,
        chained_frames=parsed.chained,
        language=parsed.language,
        timestamp=ts,
        raw=raw,
        log_message=parsed.log_message.strip(),
        request_id=parsed.request_id or None,
    )


def looks_like_error(text: str) -> bool:
    """Whether a (reassembled) log message is an error: frames, an error level or exception
    name on its first line, or a JSON log at an error level or carrying an error."""
    norm = text.replace("\r\n", "\n").replace("\r", "\n").replace("\xa0", " ")
    found = _json_object(norm)
    if found is not None:
        obj = found[0]
        level = str(obj.get("level") or obj.get("levelname") or obj.get("severity") or "")
        if level.upper() in {"ERROR", "FATAL", "CRITICAL", "SEVERE"}:
            return True
        return _error_fields(obj) is not None or is_error_start(norm.split("\n", 1)[0])
    return has_frames(norm) or is_error_start(norm.split("\n", 1)[0])


def parse_events(events: Iterable[tuple[datetime, str]]) -> list[ErrorOccurrence]:
    """Reassemble the events of one log stream and parse those that are errors."""
    joined = reassemble(list(events))
    return [parse_error(text, ts) for ts, text in joined if looks_like_error(text)]


# ---------------------------------------------------------------------------- JSON


def _json_object(text: str) -> tuple[dict[str, Any], int] | None:
    """The JSON object the text is, or that follows a tab on its first line, and its start."""
    stripped = text.lstrip()
    if stripped.startswith("{"):
        start = len(text) - len(stripped)
    else:
        tab = text.split("\n", 1)[0].find("\t{")
        if tab < 0:
            return None
        start = tab + 1
    try:
        obj, _ = json.JSONDecoder().raw_decode(text, start)
    except ValueError:
        return None
    return (obj, start) if isinstance(obj, dict) else None


def _from_json_text(text: str) -> _Parsed | None:
    found = _json_object(text)
    if found is None:
        return None
    obj, start = found
    label, prefix_ts, prefix_rid = strip_prefix(text[:start]) if start else ("", None, None)
    parsed = _from_json(obj)
    if parsed is None:
        message = obj.get("message", obj.get("msg"))
        if isinstance(message, str) and message.strip():
            parsed = _from_text(message)
        else:
            parsed = _Parsed(message=text.strip())
        parsed.timestamp = parsed.timestamp or _json_time(obj)
        parsed.request_id = parsed.request_id or _json_request_id(obj)
    parsed.timestamp = prefix_ts or parsed.timestamp
    parsed.request_id = prefix_rid or parsed.request_id
    label = label.strip()
    if label and label not in _LAMBDA_NODE_LABELS:
        parsed.log_message = parsed.log_message or label
    return parsed


def _json_time(obj: dict[str, Any]) -> datetime | None:
    for key in ("timestamp", "time", "@timestamp", "ts"):
        if key in obj:
            found = parse_time(obj[key])
            if found is not None:
                return found
    return None


def _json_request_id(obj: dict[str, Any]) -> str | None:
    for key in ("requestId", "function_request_id", "request_id", "aws_request_id", "AWSRequestId"):
        value = obj.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _error_fields(obj: dict[str, Any]) -> tuple[str, str, str] | None:
    """(type hint, message hint, trace text) of the error a JSON log carries, if any."""
    if obj.get("errorType") == "Runtime.UnhandledPromiseRejection" and isinstance(
        obj.get("reason"), dict
    ):
        inner = _error_fields(obj["reason"])
        if inner is not None:
            return inner
    message = obj.get("message")
    if isinstance(message, dict):
        inner = _error_fields(message)
        if inner is not None:
            return inner
    for key in ("error", "err"):
        value = obj.get(key)
        if isinstance(value, dict):
            inner = _error_fields(value)
            if inner is not None:
                return inner
            trace = _trace_text(value.get("stack"))
            name = value.get("name") or value.get("type") or ""
            if trace or name:
                return str(name), str(value.get("message") or ""), trace
    cause = obj.get("cause")
    if isinstance(cause, dict) and (cause.get("errorType") or cause.get("stackTrace")):
        inner = _error_fields(cause)
        if inner is not None:
            return inner
    trace = ""
    for key in ("exception", "stack_trace", "exc_info", "stack", "stackTrace"):
        trace = _trace_text(obj.get(key))
        if trace:
            break
    type_hint = obj.get("errorType") or obj.get("exception_name") or ""
    message_hint = obj.get("errorMessage") or ""
    if not trace and not type_hint:
        return None
    return str(type_hint), str(message_hint), trace


def _trace_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        items: list[str] = value
        if items and all(_JAVA_BODY.match(item.strip()) for item in items):
            return "\n".join("\tat " + item.strip() for item in items)
        return "\n".join(item.rstrip("\n") for item in items)
    return ""


def _from_json(obj: dict[str, Any]) -> _Parsed | None:
    fields = _error_fields(obj)
    if fields is None:
        return None
    type_hint, message_hint, trace = fields
    parsed = _parse_trace(trace) if trace.strip() else _Parsed()
    if parsed.language == "unknown" and not parsed.frames:
        parsed = _Parsed()
    if not parsed.exception_type:
        parsed.exception_type = type_hint
    if not parsed.message:
        parsed.message = message_hint
    message = obj.get("message")
    if isinstance(message, str) and message.strip() != parsed.message.strip():
        parsed.log_message = message
    parsed.timestamp = _json_time(obj)
    parsed.request_id = _json_request_id(obj)
    return parsed


# ---------------------------------------------------------------------------- text


def _from_text(text: str) -> _Parsed:
    first, _, rest = text.partition("\n")
    first, ts, rid = strip_prefix(first)
    body = first + ("\n" + rest if rest else "")
    parsed = _parse_trace(body)
    parsed.timestamp = ts
    parsed.request_id = rid
    return parsed


def _parse_trace(text: str) -> _Parsed:
    lines = text.split("\n")
    if any(PY_TRACEBACK.match(ln) or _PY_FRAME.match(ln) for ln in lines):
        return _parse_python(lines)
    if any(_JAVA_FRAME.match(ln) for ln in lines) or any(_JAVA_CAUSE.match(ln) for ln in lines):
        return _parse_java(lines)
    if any(_NODE_FRAME.match(ln) for ln in lines):
        return _parse_node(lines)
    return _parse_plain(lines)


def _parse_plain(lines: list[str]) -> _Parsed:
    first = re.sub(r"^\[(?:" + LEVELS + r")\]\s*", "", lines[0])
    text = "\n".join([first, *lines[1:]]).strip()
    m = _LEADING_ERROR.match(first.strip())
    if m:
        rest = "\n".join(lines[1:]).strip()
        message = (m.group("msg") or "") + ("\n" + rest if rest else "")
        return _Parsed(exception_type=m.group("type"), message=message)
    return _Parsed(message=text)


def _parse_python(lines: list[str]) -> _Parsed:
    tbs = [i for i, ln in enumerate(lines) if PY_TRACEBACK.match(ln)]
    first_frame = next(
        i for i, ln in enumerate(lines) if PY_TRACEBACK.match(ln) or _PY_FRAME.match(ln)
    )
    frames, i = _python_frames(lines, tbs[-1] + 1 if tbs else first_frame)
    chained = [f for tb in tbs[:-1] for f in _python_frames(lines, tb + 1)[0]]
    exc_type = ""
    message_lines: list[str] = []
    if i < len(lines):
        m = _PY_EXC.match(lines[i])
        if m:
            exc_type = m.group("type")
            message_lines.append(m.group("msg") or "")
        else:
            message_lines.append(lines[i])
        for ln in lines[i + 1 :]:
            if not ln.strip() or PY_CHAIN.match(ln) or PY_TRACEBACK.match(ln):
                break
            message_lines.append(ln)
    header = lines[:first_frame]
    log_message = "\n".join(header).strip()
    if not exc_type and header:
        # Lambda's unhandled-error report: "[ERROR] KeyError: 'x'" before the traceback
        head = re.sub(r"^\[(?:" + LEVELS + r")\]\s*", "", header[0]).strip()
        m = _LEADING_ERROR.match(head) or _PY_EXC.match(head)
        if m:
            exc_type = m.group("type")
            message_lines = [m.group("msg") or "", *header[1:]]
            log_message = ""
    return _Parsed(
        language="python",
        exception_type=exc_type,
        message="\n".join(message_lines).strip(),
        frames=frames,
        chained=chained,
        log_message=log_message,
    )


def _python_frames(lines: list[str], start: int) -> tuple[list[Frame], int]:
    """The frames of the traceback whose first frame line is at or after ``start``, and the
    index of the line that ends them (the exception line)."""
    frames: list[Frame] = []
    i = start
    while i < len(lines):
        ln = lines[i]
        m = _PY_FRAME.match(ln)
        if m:
            fn = (m.group("fn") or "").strip()
            frames.append(Frame(file=m.group("file"), line=int(m.group("line")), function=fn))
        elif ln and not ln[0].isspace() and not ln.startswith(CUT_NOTE_START):
            break
        i += 1
    return frames, i


@dataclass
class _JavaBlock:
    exception_type: str
    message_lines: list[str]
    frames: list[Frame] = field(default_factory=list)
    more: int = 0


def _java_header(line: str) -> tuple[str, str]:
    line = _JAVA_THREAD.sub("", line.strip())
    m = _JAVA_HEADER.match(line)
    if m:
        return m.group("type"), m.group("msg") or ""
    return "", line


def _java_frame(m: re.Match[str]) -> Frame:
    fn = _JAVA_MODULE.sub("", m.group("fn"))
    loc = m.group("loc")
    file, sep, line = loc.rpartition(":")
    if sep and line.isdigit():
        return Frame(file=file, line=int(line), function=fn)
    return Frame(file=loc, line=None, function=fn)


def _parse_java(lines: list[str]) -> _Parsed:
    first_frame = next(
        (i for i, ln in enumerate(lines) if _JAVA_FRAME.match(ln) or _JAVA_CAUSE.match(ln)),
        len(lines),
    )
    header_at = next(
        (
            i
            for i in range(first_frame - 1, -1, -1)
            if _JAVA_THREAD.match(lines[i].strip()) or _JAVA_HEADER.match(lines[i].strip())
        ),
        max(first_frame - 1, 0),
    )
    exc_type, msg = _java_header(lines[header_at]) if first_frame > 0 else ("", "")
    blocks = [_JavaBlock(exc_type, [msg, *lines[header_at + 1 : first_frame]])]
    log_message = "\n".join(lines[:header_at])
    in_suppressed = False
    for ln in lines[first_frame:]:
        cause = _JAVA_CAUSE.match(ln)
        if cause:
            in_suppressed = False
            exc_type, msg = _java_header(cause.group("rest"))
            blocks.append(_JavaBlock(exc_type, [msg]))
            continue
        if _JAVA_SUPPRESSED.match(ln):
            in_suppressed = True
            continue
        if in_suppressed:
            continue
        frame = _JAVA_FRAME.match(ln)
        more = JAVA_MORE.match(ln)
        block = blocks[-1]
        if frame:
            block.frames.append(_java_frame(frame))
        elif more:
            block.more = int(more.group("n"))
        elif not block.frames and ln.strip():
            block.message_lines.append(ln)
    # Rebuild each trace: "... N more" stands for the enclosing trace's last N frames.
    full: list[Frame] = []
    for block in blocks:
        own = list(block.frames)
        if block.more and full:
            own.extend(full[-block.more :])
        full = own
    root = blocks[-1]
    return _Parsed(
        language="java",
        exception_type=root.exception_type,
        message="\n".join(root.message_lines).strip(),
        frames=list(reversed(full)),
        chained=[f for block in blocks[:-1] for f in reversed(block.frames)],
        log_message=log_message,
    )


def _node_frame(m: re.Match[str]) -> Frame:
    body = m.group("body").rstrip()
    body = (
        body[:-1].rstrip() if body.endswith("{") else body
    )  # util.inspect opens the error's props
    fn = ""
    loc = body
    paren = body.find(" (")
    if paren > 0 and body.endswith(")"):
        fn = body[:paren]
        loc = body[paren + 2 : -1]
    fn = re.sub(r"\s*\[as [^\]]+\]$", "", fn)
    loc = re.sub(r"^file://", "", loc)
    loc_m = _NODE_LOC.match(loc)
    if loc_m:
        return Frame(file=loc_m.group("file"), line=int(loc_m.group("line")), function=fn)
    return Frame(file=loc, line=None, function=fn)


def _parse_node(lines: list[str]) -> _Parsed:
    first_frame = next(i for i, ln in enumerate(lines) if _NODE_FRAME.match(ln))
    frames: list[Frame] = []
    for ln in lines[first_frame:]:
        m = _NODE_FRAME.match(ln)
        if not m:
            if ln.strip() and not ln.startswith(CUT_NOTE_START):
                break  # an object dump or a nested cause after the frames
            continue
        frames.append(_node_frame(m))
    header = lines[:first_frame]
    exc_type = ""
    message_lines: list[str] = []
    log_lines: list[str] = []
    for i, ln in enumerate(header):
        m = _NODE_HEADER.match(ln.strip())
        if m:
            exc_type = m.group("type")
            message_lines = [m.group("msg") or "", *header[i + 1 :]]
            log_lines = header[:i]
            break
    else:
        first = header[0] if header else ""
        m = _NAMED_ERROR.search(first)
        if m:
            exc_type = m.group("type")
            message_lines = [m.group("msg") or "", *header[1:]]
            log_lines = [first[: m.start()]]
        else:
            message_lines = header
    return _Parsed(
        language="node",
        exception_type=exc_type,
        message="\n".join(message_lines).strip(),
        frames=list(reversed(frames)),
        log_message="\n".join(log_lines).strip(),
    )
