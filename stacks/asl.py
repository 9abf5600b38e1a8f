"""Static checks of an Amazon States Language definition, run at synth and by the tests.

Step Functions rejects some mistakes only when the state machine is created (a missing
``Next`` target) and accepts others silently (a Task without ``Retry`` fails the whole
investigation on the first throttle; an unreachable state is dead code). :func:`problems`
finds them in the file, in every scope: the top level, each Map ``ItemProcessor`` (or
``Iterator``) and each Parallel branch, where transitions may only name states of the same
scope.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = ["problems", "scopes", "transitions"]

_TERMINAL_TYPES = {"Succeed", "Fail"}


def scopes(definition: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """``(path, scope)`` of every state list: the definition, then nested ones."""
    yield path or "/", definition
    for name, state in definition.get("States", {}).items():
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            yield from scopes(processor, f"{path}/{name}")
        for i, branch in enumerate(state.get("Branches", [])):
            yield from scopes(branch, f"{path}/{name}[{i}]")


def transitions(state: dict[str, Any]) -> list[str]:
    """Every state this one may go to: Next, Choice rules and Default, Catch."""
    targets = [state["Next"]] if "Next" in state else []
    targets += [rule["Next"] for rule in state.get("Choices", []) if "Next" in rule]
    if "Default" in state:
        targets.append(state["Default"])
    targets += [catcher["Next"] for catcher in state.get("Catch", []) if "Next" in catcher]
    return targets


def problems(definition: dict[str, Any]) -> list[str]:
    """What is wrong with ``definition``, one sentence each; empty when nothing is."""
    found: list[str] = []
    for where, scope in scopes(definition):
        states: dict[str, Any] = scope.get("States", {})
        start = scope.get("StartAt")
        if start not in states:
            found.append(f"{where}: StartAt {start!r} is not a state of this scope")
        for name, state in states.items():
            for target in transitions(state):
                if target not in states:
                    found.append(f"{where}/{name}: goes to {target!r}, which does not exist here")
            kind = state.get("Type")
            if kind == "Task" and not state.get("Retry"):
                found.append(f"{where}/{name}: Task without Retry")
            ends = state.get("End") is True or kind in _TERMINAL_TYPES or kind == "Choice"
            if not ends and "Next" not in state:
                found.append(f"{where}/{name}: neither Next nor End")
        reachable = _reachable(states, start)
        found += [
            f"{where}/{name}: unreachable from {start!r}"
            for name in states
            if name not in reachable
        ]
    return found


def _reachable(states: dict[str, Any], start: str | None) -> set[str]:
    seen: set[str] = set()
    todo = [start] if start in states else []
    while todo:
        name = todo.pop()
        if name in seen or name not in states:
            continue
        seen.add(name)
        todo += transitions(states[name])
    return seen
