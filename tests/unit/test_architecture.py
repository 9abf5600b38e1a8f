"""The package structure docs/architecture.md describes, checked against the code.

Imports are read from the source (every ``import`` statement, inside functions and
``TYPE_CHECKING`` blocks included), so a dependency cannot hide from the check.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.support import ROOT

PACKAGE = ROOT / "fixloop"
MAX_MODULE_LINES = 600

BASE = frozenset({"errors", "config", "aws", "process"})
"""Modules every part of fixloop may import."""

MAY_IMPORT: dict[str, frozenset[str]] = {
    "errors": frozenset(),
    "config": frozenset({"errors"}),
    "aws": frozenset({"config", "errors"}),
    "faults": BASE,
    "process": frozenset(),
    "metrics": BASE | {"llm"},
    "httpserver": BASE,
    "domain": BASE,
    "llm": BASE,
    "triage": BASE | {"domain"},
    "store": BASE | {"domain"},
    "cost": BASE | {"domain", "llm", "functions"},
    "tools": BASE | {"domain", "llm", "store", "triage"},
    "credentials": BASE | {"domain", "store"},
    "sandbox": BASE | {"domain", "store", "tools", "triage", "credentials", "faults", "httpserver"},
    "delivery": BASE | {"domain", "store", "sandbox", "credentials"},
    "conversation": BASE | {"domain", "store", "tools"},
    "channels": BASE | {"domain", "store", "conversation", "credentials", "delivery", "aftercare"},
    "aftercare": BASE
    | {
        "domain",
        "store",
        "triage",
        "tools",
        "conversation",
        "delivery",
        "onboarding",
        "cost",
    },
    # aftercare: the record and log (domain, store), frames of a regression (triage), the AWS
    # reads with their errors sorted and the instrumentation tool (tools), reopening and the
    # Announcer (conversation), local merges (delivery), the instrumentation pull request
    # (onboarding), the model cost of ``fixloop stats`` (cost).
    "intake": BASE | {"domain", "store", "triage", "conversation", "metrics", "aftercare"},
    "agent": BASE
    | {
        "domain",
        "store",
        "llm",
        "tools",
        "triage",
        "sandbox",
        "delivery",
        "conversation",
        "cost",
        "metrics",
        "aftercare",
    },
    "live": BASE | {"domain", "store", "conversation", "cost"},
    "onboarding": BASE | {"domain", "sandbox", "delivery", "credentials"},
    "local": BASE | {"domain", "store", "live", "httpserver", "functions"},
    "functions": frozenset(),
    "cli": frozenset(
        {
            *BASE,
            "domain",
            "store",
            "llm",
            "agent",
            "intake",
            "local",
            "onboarding",
            "cost",
            # fixloop eval: fixloop's own git and the sandbox's confinement, for grading
            "sandbox",
            "aftercare",
        }
    ),
}
"""What each top-level part of fixloop may import (docs/architecture.md, "Packages")."""


def _parts() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        yield rel.parts[0].removesuffix(".py"), path


def _imported(path: Path) -> set[str]:
    """The top-level parts of fixloop that a module imports."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    package = path.relative_to(ROOT).with_suffix("").parts[:-1]
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            names = [module]
            if module == "fixloop":  # from fixloop import aws, faults
                names = [f"fixloop.{a.name}" for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "fixloop" and len(parts) > 1:
                found.add(parts[1])
    return found


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for part, path in _parts():
        edges = graph.setdefault(part, set())
        edges |= _imported(path) - {part, "__init__"}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, if there is any (depth-first search)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle_between_the_parts_of_fixloop() -> None:
    # Given every import in fixloop, inside functions too
    graph = _graph()
    # Then no part of fixloop reaches itself through others
    assert _cycle(graph) is None


def test_the_cycle_check_finds_a_cycle() -> None:
    # Given a graph with a cycle three steps long, Then the check names it
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]


def test_each_part_imports_only_what_the_architecture_allows() -> None:
    graph = _graph()
    # Every part is in the table (a new package is placed in the map deliberately)
    assert set(graph) - {"__init__", "py"} <= set(MAY_IMPORT), "add new parts to MAY_IMPORT"
    unexpected = {
        part: sorted(imports - MAY_IMPORT[part])
        for part, imports in graph.items()
        if part in MAY_IMPORT and imports - MAY_IMPORT[part]
    }
    assert unexpected == {}


def test_no_module_of_fixloop_is_over_600_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): n
        for _, path in _parts()
        if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_test_fakes_are_not_in_the_product() -> None:
    # The local stand-ins of GitHub, Slack, Linear and the Messages API live under tests/
    assert not (PACKAGE / "testing").exists()
    assert not any("fixloop.testing" in path.read_text() for _, path in _parts())


def test_no_file_names_a_path_of_a_build_machine() -> None:
    checked = [
        p
        for folder in ("fixloop", "functions", "stacks", "layers", "tests", "bench", "docs")
        for p in (ROOT / folder).rglob("*")
        if p.is_file() and p.suffix in {".py", ".md", ".json", ".txt", ".toml"}
    ]
    # The folders of the machines fixloop is built on (stack-trace paths of CI runners in
    # triage fixtures are data, not these)
    marks = ("/work/" + "shared", "/work/" + "main", "/root/" + ".")
    named = [str(p.relative_to(ROOT)) for p in checked if any(m in p.read_text() for m in marks)]
    assert named == []
