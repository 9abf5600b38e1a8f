"""Titles that leave fixloop: one line, short, no markup.

An investigation's title comes from an exception message or an alarm (text an attacker can
write) and is shown in Slack, Linear and GitHub, where markup acts: Slack's ``<!channel>``
pings a whole channel, ``<http://x|label>`` hides a link behind a label, a Markdown link or
image points anywhere, an ``@mention`` notifies someone. :func:`clean_title` is the one
function every title goes through before it is stored on an investigation or posted.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["MAX_TITLE_CHARS", "clean_title"]

MAX_TITLE_CHARS = 120
FALLBACK = "Untitled problem"

_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_REFERENCE_LINK = re.compile(r"\[([^\]]*)\]\[[^\]]*\]")
# Slack's <url|label>, <@U123|name>, <#C123|name>: keep the label; <!channel>, <@U123>,
# <http://...> and HTML tags: drop the whole tag.
_LABELLED = re.compile(r"<[^<>|]*\|([^<>]*)>")
_TAG = re.compile(r"<[^<>]*>")
_MENTION = re.compile(r"(?<![\w.+-])@(?=[\w-])")
_SPACE = re.compile(r"\s+")


def clean_title(text: str, limit: int = MAX_TITLE_CHARS) -> str:
    """One line of at most ``limit`` characters: the first non-blank line of ``text`` with
    control and formatting characters, Slack and Markdown links and images, HTML tags and
    ``@`` mentions removed (a link keeps its label), and what is left of ``<``/``>`` dropped.
    Idempotent: a clean title comes back unchanged."""
    line = next((ln for ln in text.splitlines() if ln.strip()), "")
    line = "".join(
        " " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c
        for c in line
        if unicodedata.category(c) not in ("Cf", "Cs", "Co", "Cn")
    )
    for pattern, keep in (
        (_IMAGE, r"\1"),
        (_LINK, r"\1"),
        (_REFERENCE_LINK, r"\1"),
        (_LABELLED, r"\1"),
        (_TAG, " "),
    ):
        line = pattern.sub(keep, line)
    line = line.replace("<", "").replace(">", "")
    line = _MENTION.sub("", line)
    line = _SPACE.sub(" ", line).strip()
    if len(line) > limit:
        line = line[: limit - 1].rstrip() + "…"
    return line or FALLBACK
