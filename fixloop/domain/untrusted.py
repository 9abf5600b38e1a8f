"""Untrusted text in the model's prompt: delimited, labelled, unable to close its own block.

Everything that comes from outside fixloop (telemetry, repository text, tool output, people's
messages) reaches the model inside a block::

    <untrusted source="cloudwatch-logs" what="signal">
    ...the text...
    </untrusted>

The system prompt says that such a block is data to investigate, never instructions to
follow. Any tag of this name inside the text (``</untrusted>``, ``< / UNTRUSTED``, a
fullwidth ``＜``, zero-width characters between the letters) has its ``<`` replaced by
``&lt;``, so the text cannot end its block early and continue as if fixloop had written it.
Attribute values are escaped and kept to one short line. The rendering is a pure function of
its input: the prompt stays byte-stable from turn to turn (prompt caching depends on it).
"""

from __future__ import annotations

import html
import re
import unicodedata

__all__ = ["TAG", "neutralise", "untrusted_block"]

TAG = "untrusted"
MAX_ATTRIBUTE_CHARS = 120

# "<", optional "/", the tag name; spaces, and any non-word characters (zero-width spaces,
# soft hyphens) between the letters, are allowed, since a model may read through them.
_GAP = r"[\W_]{0,3}"
_TAG_NAME = _GAP.join(TAG)
_OPENER = re.compile(r"[<＜﹤]" + r"\s*/?\s*" + _GAP + _TAG_NAME, re.IGNORECASE)


def neutralise(text: str) -> str:
    """``text`` with every opening or closing ``untrusted`` tag made inert."""
    return _OPENER.sub(lambda m: "&lt;" + m.group(0)[1:], text)


def _attribute(value: str) -> str:
    flat = "".join(" " if unicodedata.category(c)[0] == "C" else c for c in value)
    flat = " ".join(flat.split())
    if len(flat) > MAX_ATTRIBUTE_CHARS:
        flat = flat[: MAX_ATTRIBUTE_CHARS - 1] + "…"
    return html.escape(flat, quote=True)


def untrusted_block(text: str, source: str, **attributes: str) -> str:
    """``text`` as data from ``source`` (``cloudwatch-logs``, ``slack``, ``tool``...), with
    more labels as attributes (``author="U123"``, ``tool="read_file"``)."""
    labels = "".join(f' {name}="{_attribute(value)}"' for name, value in attributes.items())
    return f'<{TAG} source="{_attribute(source)}"{labels}>\n{neutralise(text)}\n</{TAG}>'
