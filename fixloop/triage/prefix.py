"""Log prefixes: what loggers put before an error's first line, read for its time and request id.

Lambda's Python text format (``[ERROR]\\t<time>\\t<request id>\\t``), Lambda's Node format
(``<time>\\t<request id>\\tERROR\\t``), and generic prefixes made of a timestamp, a level and
a request id in any order (``2026-03-01 12:00:00,123 ERROR ...``, ``[ERROR] RequestId: ...``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

_ISO = r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?"
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
LEVELS = r"TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|FATAL|CRITICAL|SEVERE"
"""Log level names, as a regular expression alternation."""
_LAMBDA_PY = re.compile(
    rf"^\[(?:{LEVELS})\]\t(?P<ts>{_ISO})\t(?P<rid>[^\t]*)\t",
)
_LAMBDA_NODE = re.compile(rf"^(?P<ts>{_ISO})\t(?P<rid>[^\t]*)\t(?:{LEVELS})\t")
_PREFIX_TS = re.compile(rf"^(?P<ts>{_ISO})(?:\s+|\s*[|]\s*)")
_PREFIX_LEVEL = re.compile(rf"^(?:\[(?:{LEVELS})\]|(?:{LEVELS})(?=[\s:|])):?(?:\s+|\s*[|]\s*)")
_PREFIX_RID = re.compile(rf"^(?:RequestId:\s*)?(?P<rid>{_UUID})(?:\s+|\s*[|]\s*)")


def strip_prefix(line: str) -> tuple[str, datetime | None, str | None]:
    """The line without its log prefix, and the prefix's time and request id."""
    for rx in (_LAMBDA_PY, _LAMBDA_NODE):
        m = rx.match(line)
        if m:
            return line[m.end() :], parse_time(m.group("ts")), m.group("rid") or None
    ts: datetime | None = None
    rid: str | None = None
    for _ in range(4):
        m = _PREFIX_TS.match(line)
        if m and ts is None:
            ts = parse_time(m.group("ts"))
            line = line[m.end() :]
            continue
        m = _PREFIX_LEVEL.match(line)
        if m:
            line = line[m.end() :]
            continue
        m = _PREFIX_RID.match(line)
        if m and rid is None:
            rid = m.group("rid")
            line = line[m.end() :]
            continue
        break
    return line, ts, rid


def parse_time(value: Any) -> datetime | None:
    """A log's time: ISO 8601 text (``,`` before the fraction too; naive means UTC) or epoch
    seconds or milliseconds; ``None`` for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 1e11 else value
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace(",", ".", 1)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
