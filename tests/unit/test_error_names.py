"""Error names are an interface: Step Functions matches the exception's class name exactly, so
every Task's Retry must list each transient and each permanent error by name (a base class
does not cover its subclasses). The lists are derived from fixloop/errors.py and compared with
the hand-written state machine files."""

from __future__ import annotations

import gc
import importlib
import json
import pkgutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import fixloop
from fixloop.errors import (
    BadInputError,
    ConfigError,
    FixloopError,
    ModelError,
    NotFoundError,
    TransientError,
    error_classes,
    permanent_error_names,
    transient_error_names,
)
from tests.support import ROOT

ASL_FILES = sorted((ROOT / "statemachines").glob("*.asl.json"))
LOOP_FILE = ROOT / "statemachines" / "investigation.asl.json"
MIN_TASKS = {"investigation.asl.json": 8, "aftercare.asl.json": 3}
"""The Tasks each file has at least (so an emptied file is not a pass)."""
SERVICE_PREFIXES = ("States.", "Lambda.", "StepFunctions.")
"""Error names Step Functions and its integrations report, not fixloop."""
RETRY_FAMILIES = (TransientError, BadInputError, ConfigError, NotFoundError, ModelError)


def _import_all_of_fixloop() -> None:
    """Define every error class fixloop has, wherever it is."""
    for module in pkgutil.walk_packages(fixloop.__path__, "fixloop."):
        importlib.import_module(module.name)


def _tasks(states: dict[str, Any], where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in states.items():
        if state.get("Type") == "Task":
            yield f"{where}{name}", state
        for key in ("ItemProcessor", "Iterator"):
            if key in state:
                yield from _tasks(state[key]["States"], f"{where}{name}/")
        for i, branch in enumerate(state.get("Branches", [])):
            yield from _tasks(branch["States"], f"{where}{name}[{i}]/")


def _retry_problems(definition: dict[str, Any]) -> list[str]:
    """What is wrong with the Retry and Catch lists of every Task, against fixloop/errors.py."""
    transient, permanent = transient_error_names(), permanent_error_names()
    known = {cls.__name__ for cls in error_classes()}
    problems: list[str] = []
    for where, task in _tasks(definition["States"]):
        retriers: list[dict[str, Any]] = task.get("Retry", [])
        for entry in [*retriers, *task.get("Catch", [])]:
            for name in entry["ErrorEquals"]:
                if not name.startswith(SERVICE_PREFIXES) and name not in known:
                    problems.append(f"{where}: {name} is no error of fixloop/errors.py")
        if not str(task.get("Resource", "")).startswith("arn:aws:states:::lambda:invoke"):
            continue  # no fixloop code runs in it: no fixloop error to retry
        names = [entry["ErrorEquals"] for entry in retriers]
        for expected, retried, what in (
            (transient, True, "transient"),
            (permanent, False, "permanent"),
        ):
            found = [i for i, equals in enumerate(names) if set(equals) & set(expected)]
            if len(found) != 1:
                problems.append(f"{where}: {len(found)} retriers name {what} errors, not one")
                continue
            entry = retriers[found[0]]
            listed = entry["ErrorEquals"]
            missing = [n for n in expected if n not in listed]
            extra = [n for n in listed if n not in expected]
            doubled = [n for n, count in Counter(listed).items() if count > 1]
            if missing or extra or doubled:
                problems.append(
                    f"{where}: {what} retrier misses {missing}, has extra {extra}, twice {doubled}"
                )
            max_attempts = entry.get("MaxAttempts", 3)
            if retried != (max_attempts > 0):
                problems.append(f"{where}: {what} retrier has MaxAttempts {max_attempts}")
            catch_all = [i for i, equals in enumerate(names) if "States.ALL" in equals]
            if catch_all and catch_all[0] < found[0]:
                problems.append(f"{where}: States.ALL comes before the {what} retrier")
    return problems


def test_every_error_a_retry_tells_apart_is_defined_in_fixloop_errors() -> None:
    # Given every module of fixloop imported (so any subclass anywhere is defined)
    _import_all_of_fixloop()
    # When the error classes are listed
    classes = error_classes()
    # Then each one with a retry policy lives in fixloop/errors.py, so the name lists it
    # gives do not depend on what happens to be imported
    outside = [
        f"{cls.__module__}.{cls.__name__}"
        for cls in classes
        if issubclass(cls, RETRY_FAMILIES) and cls.__module__ != "fixloop.errors"
    ]
    assert outside == [], "define these in fixloop/errors.py"
    # And the others derive from FixloopError directly (they get the default retry)
    assert all(
        cls.__bases__ == (FixloopError,) for cls in classes if cls.__module__ != "fixloop.errors"
    )


def test_error_class_names_are_unique() -> None:
    # Given every module of fixloop imported
    _import_all_of_fixloop()
    # When the names of its error classes are counted
    counts = Counter(cls.__name__ for cls in error_classes())
    # Then none is used twice: Step Functions sees only the name, not the module
    assert [name for name, n in counts.items() if n > 1] == []


def test_the_name_lists_follow_the_hierarchy() -> None:
    transient, permanent = transient_error_names(), permanent_error_names()
    assert transient[0] == "TransientError"
    assert {"ModelThrottled", "StorageThrottled", "SandboxUnavailable"} <= set(transient)
    assert {"BadInputError", "SignalError", "InvestigationNotFound", "EventNotFound"} <= set(
        permanent
    )
    assert {"ConfigError", "ModelError"} <= set(permanent)
    assert not set(transient) & set(permanent)
    assert "ToolFailed" not in transient + permanent


def test_there_are_state_machine_files() -> None:
    assert [p.name for p in ASL_FILES] == ["aftercare.asl.json", "investigation.asl.json"]


@pytest.mark.parametrize("path", ASL_FILES, ids=lambda p: p.name)
def test_every_task_retries_exactly_the_errors_of_fixloop_errors(path: Path) -> None:
    # Given the hand-written state machine and every error class of fixloop defined
    _import_all_of_fixloop()
    definition = json.loads(path.read_text())
    # When its Tasks' Retry and Catch lists are compared with fixloop/errors.py
    problems = _retry_problems(definition)
    # Then each Lambda Task backs off on every transient error, fails at once on every
    # permanent one, and names nothing else of fixloop's
    assert problems == []
    assert sum(1 for _ in _tasks(definition["States"])) >= MIN_TASKS[path.name]


def test_a_new_transient_error_not_in_the_state_machine_is_found() -> None:
    # Given a TransientError subclass the state machine does not list
    definition = json.loads(LOOP_FILE.read_text())
    new_error = type("QueueThrottled", (TransientError,), {"__module__": "fixloop.errors"})
    try:
        # When the state machine is checked
        problems = _retry_problems(definition)
    finally:
        del new_error
        gc.collect()
    # Then every Lambda Task is reported as missing it
    assert problems
    assert all("misses ['QueueThrottled']" in p for p in problems)
    assert "QueueThrottled" not in transient_error_names()


def test_a_stale_or_misspelt_name_is_found() -> None:
    # Given a Retry that names an error fixloop does not have
    definition = json.loads(LOOP_FILE.read_text())
    name, task = next(_tasks(definition["States"]))
    task["Retry"][1]["ErrorEquals"].append("TransientErorr")
    # When / Then it is reported
    assert f"{name}: TransientErorr is no error of fixloop/errors.py" in _retry_problems(definition)
