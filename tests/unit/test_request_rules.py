"""The request's messages checked before every model call: what the Messages API refuses is
found, and repaired in the safest way when not strict."""

from __future__ import annotations

from typing import Any

import pytest

from fixloop.agent.request import NOT_RUN, InvalidRequest, checked, problems, repaired


def use(i: str) -> dict[str, Any]:
    return {"type": "tool_use", "id": i, "name": "get_signal", "input": {}}


def result(i: str) -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": i, "content": "ok"}


def txt(t: str) -> dict[str, Any]:
    return {"type": "text", "text": t}


VALID = [
    {"role": "user", "content": [txt("signal")]},
    {"role": "assistant", "content": [txt("reading"), use("a"), use("b")]},
    {"role": "user", "content": [result("a"), result("b"), txt("a note")]},
]


def test_valid_messages_pass_unchanged() -> None:
    assert problems(VALID) == []
    assert checked(VALID, strict=True) is VALID


@pytest.mark.parametrize(
    ("messages", "found"),
    [
        ([*VALID[:2], {"role": "user", "content": [result("a")]}], "without a tool_result"),
        ([*VALID[:2], {"role": "user", "content": [result("a"), result("b"), result("z")]}],
         "answers no call"),
        ([*VALID[:2], {"role": "user", "content": [txt("x"), result("a"), result("b")]}],
         "not first"),
        ([{"role": "user", "content": [txt("  ")]}], "empty text"),
        ([{"role": "user", "content": [txt("s")]}, {"role": "assistant", "content": []},
          {"role": "user", "content": [txt("m")]}], "empty message"),
        ([*VALID, {"role": "assistant", "content": [use("a")]},
          {"role": "user", "content": [result("a")]}], "not unique"),
        (VALID[:2], "without a tool_result"),
    ],
)  # fmt: skip
def test_each_rule_is_found_and_strict_mode_fails_loudly(
    messages: list[dict[str, Any]], found: str
) -> None:
    assert any(found in p for p in problems(messages)), problems(messages)
    with pytest.raises(InvalidRequest, match=found):
        checked(messages, strict=True, turn=7)


def test_repair_answers_unanswered_calls_and_keeps_every_rule() -> None:
    # Given a concluding turn's other call left unanswered, an empty reply, an orphan result
    broken: list[dict[str, Any]] = [
        {"role": "user", "content": [txt("signal")]},
        {"role": "assistant", "content": [use("a"), use("b")]},
        {"role": "user", "content": [txt("review: add a test"), result("b"), result("zz")]},
        {"role": "assistant", "content": []},
        {"role": "user", "content": [txt(" ")]},
    ]
    # When repaired, Then nothing the API refuses is left, and the lost call says so
    fixed = repaired(broken)
    assert problems(fixed) == []
    answers = {b["tool_use_id"]: b for b in fixed[2]["content"] if b["type"] == "tool_result"}
    assert answers["a"]["is_error"] and answers["a"]["content"] == NOT_RUN
    assert answers["b"]["content"] == "ok"
    assert fixed[2]["content"][-1] == txt("review: add a test")
    assert checked(broken, strict=False) == fixed
