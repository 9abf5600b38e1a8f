"""Every state machine file is valid before Step Functions sees it (stacks/asl.py), and its
substitutions are exactly those the CDK stack and the embedded runtime provide."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from fixloop.functions import AFTERCARE_STEPS, LOOP_STEPS
from fixloop.local.handlers import AFTERCARE_FUNCTIONS as LOCAL_AFTERCARE_FUNCTIONS
from fixloop.local.handlers import CONTINUE_AS_NEW_PLACEHOLDER as LOCAL_CONTINUE_AS_NEW
from fixloop.local.handlers import FUNCTIONS as LOCAL_FUNCTIONS
from layers.bundler import PROJECT_ROOT
from stacks.asl import problems, scopes
from stacks.constructs.loop import CONTINUE_AS_NEW_PLACEHOLDER, placeholders

ASL_FILES = sorted((PROJECT_ROOT / "statemachines").glob("*.asl.json"))
STACK_PROVIDES = {spec.asl_placeholder for spec in LOOP_STEPS} | {CONTINUE_AS_NEW_PLACEHOLDER}
"""What InvestigationLoop substitutes (fixloop_stack.py passes the loop steps' versions, under
their catalogue placeholders)."""
AFTERCARE_PROVIDES = {spec.asl_placeholder for spec in AFTERCARE_STEPS}
"""What the aftercare's InvestigationLoop substitutes (the aftercare steps' versions; it does
not continue as new)."""
PROVIDED = {"investigation.asl.json": STACK_PROVIDES, "aftercare.asl.json": AFTERCARE_PROVIDES}
LOCAL_PROVIDES = {
    "investigation.asl.json": set(LOCAL_FUNCTIONS) | {LOCAL_CONTINUE_AS_NEW},
    "aftercare.asl.json": set(LOCAL_AFTERCARE_FUNCTIONS),
}

RETRY = [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2}]


def test_there_are_state_machine_files() -> None:
    assert [p.name for p in ASL_FILES] == ["aftercare.asl.json", "investigation.asl.json"]


@pytest.mark.parametrize("path", ASL_FILES, ids=lambda p: p.name)
def test_every_file_parses_and_has_no_problem(path: Path) -> None:
    # Given / When the file is parsed and checked in every scope (Map processors included)
    definition = json.loads(path.read_text())
    nested = [where for where, _ in scopes(definition) if where != "/"]

    # Then nothing is wrong: targets exist, Tasks retry, every state is reachable
    assert problems(definition) == []
    if path.name == "investigation.asl.json":
        assert nested, "the loop's Map item processor is checked too"


@pytest.mark.parametrize("path", ASL_FILES, ids=lambda p: p.name)
def test_substitutions_are_exactly_those_provided(path: Path) -> None:
    # Given the ${...} placeholders of the file
    used = placeholders(path.read_text())

    # When / Then the stack provides each one and nothing unused, and so does the embedded
    # runtime (which substitutes the same names locally)
    assert used == PROVIDED[path.name]
    assert LOCAL_PROVIDES[path.name] == PROVIDED[path.name]


def loop_definition() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        (PROJECT_ROOT / "statemachines/investigation.asl.json").read_text()
    )
    return loaded


def map_state(definition: dict[str, Any]) -> dict[str, Any]:
    (state,) = (s for s in definition["States"].values() if "ItemProcessor" in s)
    found: dict[str, Any] = state
    return found


def test_a_missing_target_is_found_in_a_map_item_processor() -> None:
    # Given the real loop with a state inside the Map pointing at a top-level state (not
    # allowed: a Map's states only go to states of the same processor)
    broken = loop_definition()
    processor = map_state(broken)["ItemProcessor"]
    name, state = next((n, s) for n, s in processor["States"].items() if "Default" in s)
    state["Default"] = "Prepare"

    # When / Then the problem names the nested state and its target
    found = problems(broken)
    assert any(f"/{name}: goes to 'Prepare'" in p for p in found), found


def test_a_task_without_retry_a_choice_to_nowhere_and_an_orphan_are_found() -> None:
    # Given a small machine with three mistakes
    definition = {
        "StartAt": "A",
        "States": {
            "A": {"Type": "Task", "Resource": "${F}", "Next": "B"},
            "B": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.x", "BooleanEquals": True, "Next": "Done"}],
                "Default": "Nowhere",
            },
            "Done": {"Type": "Succeed"},
            "Orphan": {"Type": "Task", "Resource": "${F}", "Retry": RETRY, "End": True},
        },
    }

    # When it is checked
    found = problems(definition)

    # Then each mistake is reported
    assert found == [
        "//A: Task without Retry",
        "//B: goes to 'Nowhere', which does not exist here",
        "//Orphan: unreachable from 'A'",
    ]


def test_catch_targets_count_as_transitions() -> None:
    # Given a state reachable only through a Catch
    definition = {
        "StartAt": "A",
        "States": {
            "A": {
                "Type": "Task",
                "Resource": "${F}",
                "Retry": RETRY,
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Failed"}],
                "End": True,
            },
            "Failed": {"Type": "Fail"},
        },
    }

    # When / Then it is reachable and the definition is fine
    assert problems(definition) == []
    # And a bad StartAt is reported
    bad = copy.deepcopy(definition)
    bad["StartAt"] = "Z"
    assert "/: StartAt 'Z' is not a state of this scope" in problems(bad)
