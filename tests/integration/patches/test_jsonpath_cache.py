"""patches.jsonpath_cache: the interpreter parses each JSONPath once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.patches.harness import Moto


@pytest.fixture
def parsers_built(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Counts jsonpath_ng parser constructions (one per uncached parse)."""
    from jsonpath_ng import parser

    built: list[str] = []
    original = parser.JsonPathParser.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        built.append(type(self).__name__)
        original(self, *args, **kwargs)

    monkeypatch.setattr(parser.JsonPathParser, "__init__", init)
    yield built


def _paths_machine() -> dict[str, Any]:
    return {
        "StartAt": "Pick",
        "States": {
            "Pick": {
                "Type": "Pass",
                "Parameters": {
                    "a.$": "$.jsonpath_cache_input.a",
                    "b.$": "$.jsonpath_cache_input.b",
                    "id.$": "$$.Execution.Id",
                },
                "ResultPath": "$.jsonpath_cache_picked",
                "Next": "Route",
            },
            "Route": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.jsonpath_cache_picked.a", "NumericEquals": 1, "Next": "Done"}
                ],
                "Default": "Done",
            },
            "Done": {"Type": "Succeed"},
        },
    }


def test_a_path_is_parsed_once_however_often_it_is_evaluated(
    moto: Moto, parsers_built: list[str]
) -> None:
    # Given a machine reading the same paths on every execution
    arn = moto.state_machine("mp-jsonpaths", _paths_machine())
    # When it runs three times
    for n in range(3):
        done = moto.wait(
            moto.start(arn, f"jsonpaths-{n}", {"jsonpath_cache_input": {"a": 1, "b": n}})
        )
        assert done["status"] == "SUCCEEDED", done
        if n == 0:
            after_first = len(parsers_built)
    # Then the later executions built no JSONPath parser at all
    assert after_first > 0
    assert len(parsers_built) == after_first
