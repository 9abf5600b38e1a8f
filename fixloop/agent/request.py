"""The request's messages checked before every model call: fixloop never sends what the
Messages API refuses.

The prompt is a pure function of the log (:mod:`fixloop.agent.prompt`), and every writer of
tool results goes through :mod:`fixloop.tools.results`, so a violation here is a bug in
fixloop. With ``FIXLOOP_STRICT_REQUESTS`` (the test suite sets it) it fails loudly; in
production the messages are repaired in the safest way (an unanswered call is answered with
an error saying it was not run), logged, and sent: one bad turn must not fail an
investigation that ran for days.

The rules are the API's, as its documentation states them: every ``tool_use`` answered by a
``tool_result`` in the very next message, every ``tool_result`` answering a ``tool_use`` of
the previous message, ``tool_result`` blocks first in their message, no empty text and no
empty message, ``tool_use`` ids unique, and the last message the user's (newer models accept
no assistant prefill).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from fixloop.errors import FixloopError

__all__ = ["InvalidRequest", "checked", "problems", "repaired"]

logger = Logger(child=True)

Message = dict[str, Any]
NOT_RUN = "Not run: fixloop has no result for this call (it was lost); call it again if needed."


class InvalidRequest(FixloopError):
    """The messages built from the log break a rule of the Messages API (a fixloop bug)."""


def problems(messages: list[Message]) -> list[str]:
    """What in ``messages`` the API would refuse, one line each (empty: nothing)."""
    found: list[str] = []
    seen_ids: set[str] = set()
    for i, message in enumerate(messages):
        blocks = _blocks(message)
        if not blocks:
            found.append(f"messages.{i}: empty message")
        for j, block in enumerate(blocks):
            if block.get("type") == "text" and not str(block.get("text", "")).strip():
                found.append(f"messages.{i}.content.{j}: empty text block")
        uses = _ids(blocks, "tool_use", "id")
        for use in uses:
            if use in seen_ids:
                found.append(f"messages.{i}: tool_use id {use} is not unique")
            seen_ids.add(use)
        results = _ids(blocks, "tool_result", "tool_use_id")
        leading = 0
        while leading < len(blocks) and blocks[leading].get("type") == "tool_result":
            leading += 1
        if leading != len(results):
            found.append(f"messages.{i}: tool_result blocks are not first in their message")
        previous = _ids(_blocks(messages[i - 1]), "tool_use", "id") if i else []
        for result in results:
            if result not in previous:
                found.append(f"messages.{i}: tool_result {result} answers no call before it")
        if message.get("role") == "assistant" and uses:
            after = _blocks(messages[i + 1]) if i + 1 < len(messages) else []
            missing = [u for u in uses if u not in _ids(after, "tool_result", "tool_use_id")]
            if missing:
                found.append(f"messages.{i}: tool_use ids without a tool_result: {missing}")
    if messages and messages[-1].get("role") != "user":
        found.append("the last message is not the user's")
    return found


def repaired(messages: list[Message]) -> list[Message]:
    """``messages`` changed as little as possible to keep every rule: empty text and
    messages dropped, answers with no call dropped, results moved first, unanswered calls
    answered with an error, a user turn added at the end if missing."""
    out: list[Message] = []
    for message in messages:
        blocks = [
            b
            for b in _blocks(message)
            if not (b.get("type") == "text" and not str(b.get("text", "")).strip())
        ]
        if not blocks:
            continue
        if out and out[-1]["role"] == message.get("role"):
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": message.get("role"), "content": blocks})
    for i, message in enumerate(out):
        previous = _ids(out[i - 1]["content"], "tool_use", "id") if i else []
        results = [
            b
            for b in message["content"]
            if b.get("type") == "tool_result" and b.get("tool_use_id") in previous
        ]
        rest = [b for b in message["content"] if b.get("type") != "tool_result"]
        message["content"] = results + rest
    i = 0
    while i < len(out):
        uses = _ids(out[i]["content"], "tool_use", "id") if out[i]["role"] == "assistant" else []
        if uses:
            if i + 1 == len(out) or out[i + 1]["role"] != "user":
                out.insert(i + 1, {"role": "user", "content": []})
            answered = _ids(out[i + 1]["content"], "tool_result", "tool_use_id")
            added = [
                {"type": "tool_result", "tool_use_id": u, "content": NOT_RUN, "is_error": True}
                for u in uses
                if u not in answered
            ]
            out[i + 1]["content"] = added + out[i + 1]["content"]
        i += 1
    out = [m for m in out if m["content"]]
    if not out or out[-1]["role"] != "user":
        out.append({"role": "user", "content": [{"type": "text", "text": "fixloop: continue."}]})
    return out


def checked(messages: list[Message], *, strict: bool, turn: int = 0) -> list[Message]:
    """``messages`` if they keep every rule; else an error (``strict``) or a repaired copy."""
    found = problems(messages)
    if not found:
        return messages
    if strict:
        raise InvalidRequest(f"turn {turn}: the request breaks the API's rules: {found}")
    logger.error("request repaired before sending", extra={"turn": turn, "problems": found})
    return repaired(messages)


def _blocks(message: Message) -> list[dict[str, Any]]:
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return list(content or [])


def _ids(blocks: list[dict[str, Any]], kind: str, key: str) -> list[str]:
    return [str(b.get(key)) for b in blocks if b.get("type") == kind]
