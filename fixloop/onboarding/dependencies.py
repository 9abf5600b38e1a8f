"""Adding ``aws-lambda-powertools`` to the dependency file each handler is packaged with
(``requirements.txt``, or ``pyproject.toml``: ``[project]`` or Poetry), keeping its layout."""

from __future__ import annotations

import re
import tomllib
from pathlib import PurePosixPath

from fixloop.onboarding.detect import Tree
from fixloop.onboarding.models import (
    PACKAGE,
    POWERTOOLS,
    POWERTOOLS_REQUIREMENT,
    DetectedHandler,
)

__all__ = ["dependency_changes"]


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(line: str) -> str | None:
    line = line.split("#", 1)[0].strip()
    if not line or line.startswith("-"):
        return None
    match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)", line)
    return _normalise(match.group(1)) if match else None


def _lists_powertools(path: str, text: str) -> bool:
    if path.endswith(".txt"):
        return any(_requirement_name(line) == POWERTOOLS for line in text.splitlines())
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return False
    project = data.get("project", {})
    deps = project.get("dependencies", []) if isinstance(project, dict) else []
    if any(isinstance(d, str) and _requirement_name(d) == POWERTOOLS for d in deps):
        return True
    poetry = data.get("tool", {}).get("poetry", {}).get("dependencies", {})
    return isinstance(poetry, dict) and any(_normalise(str(k)) == POWERTOOLS for k in poetry)


def _declares_dependencies(text: str) -> bool:
    """A pyproject.toml that lists dependencies (not one that only configures tools)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return False
    return "project" in data or "dependencies" in data.get("tool", {}).get("poetry", {})


def _dependency_file(tree: Tree, directory: PurePosixPath) -> str | None:
    """The dependency file a handler in ``directory`` is packaged with: the nearest
    ``requirements.txt`` (or ``pyproject.toml`` with dependencies) up to the root."""
    for parent in [directory, *directory.parents]:
        prefix = "" if str(parent) == "." else f"{parent.as_posix()}/"
        if f"{prefix}requirements.txt" in tree:
            return f"{prefix}requirements.txt"
        pyproject = tree.read(f"{prefix}pyproject.toml")
        if pyproject is not None and _declares_dependencies(pyproject):
            return f"{prefix}pyproject.toml"
    return None


def _with_requirement(text: str) -> str:
    if text and not text.endswith("\n"):
        text += "\n"
    return f"{text}{POWERTOOLS_REQUIREMENT}\n"


def _with_pyproject_dependency(text: str) -> str | None:
    """``text`` with Powertools added to ``[project] dependencies`` or Poetry's
    dependencies, layout kept; None when the file's shape is not one handled here."""
    lines = text.splitlines(keepends=True)
    headers = [(i, line.strip()) for i, line in enumerate(lines) if line.lstrip().startswith("[")]

    def section(name: str) -> tuple[int, int] | None:
        for n, (i, header) in enumerate(headers):
            if re.fullmatch(rf"\[\s*{re.escape(name)}\s*\]\s*(#.*)?", header):
                end = headers[n + 1][0] if n + 1 < len(headers) else len(lines)
                return i, end
        return None

    candidates: list[str] = []
    project = section("project")
    if project is not None:
        start, end = project
        for i in range(start + 1, end):
            match = re.match(r"^(\s*)dependencies\s*=\s*\[(.*)$", lines[i])
            if not match:
                continue
            rest = match.group(2)
            if rest.strip().startswith("]"):  # an empty list: dependencies = []
                lines[i] = f'{match.group(1)}dependencies = ["{POWERTOOLS_REQUIREMENT}"]' + (
                    rest.strip()[1:] + "\n"
                )
            elif rest.strip() and not rest.strip().startswith("#"):  # one line: ["a", "b"]
                lines[i] = lines[i].replace("[", f'["{POWERTOOLS_REQUIREMENT}", ', 1)
            else:  # one dependency per line
                following = lines[i + 1] if i + 1 < end else "    "
                indent = re.match(r"^(\s*)", following)
                pad = indent.group(1) if indent and indent.group(1) else "    "
                lines.insert(i + 1, f'{pad}"{POWERTOOLS_REQUIREMENT}",\n')
            candidates.append("".join(lines))
            break
        else:
            lines.insert(start + 1, f'dependencies = ["{POWERTOOLS_REQUIREMENT}"]\n')
            candidates.append("".join(lines))
    else:
        poetry = section("tool.poetry.dependencies")
        if poetry is not None:
            lines.insert(poetry[0] + 1, f'{POWERTOOLS} = ">=3,<4"\n')
            candidates.append("".join(lines))
    for candidate in candidates:
        if _lists_powertools("pyproject.toml", candidate):
            return candidate
    return None


def dependency_changes(
    tree: Tree, handlers: list[DetectedHandler], warnings: list[str]
) -> tuple[list[str], dict[str, str]]:
    """Dependency files that list Powertools already, and the new content of those that
    must (one per handler's package; the root ``requirements.txt`` when none has one)."""
    targets: list[str] = []
    directories = [PurePosixPath(h.path).parent for h in handlers] or [PurePosixPath(".")]
    for directory in directories:
        found = _dependency_file(tree, directory) or "requirements.txt"
        if found not in targets:
            targets.append(found)
    for path in targets:
        if "/" in path:
            warnings.append(
                f"{PurePosixPath(path).parent}/ has its own {PurePosixPath(path).name}, so it "
                f"is probably packaged on its own: ship {PACKAGE}/ with it (copy it there, or "
                "use a layer)"
            )
    present = [p for p in targets if _lists_powertools(p, tree.read(p) or "")]
    changes: dict[str, str] = {}
    for path in targets:
        if path in present:
            continue
        text = tree.read(path) or ""
        if path.endswith(".txt"):
            changes[path] = _with_requirement(text)
            continue
        updated = _with_pyproject_dependency(text)
        if updated is None:
            warnings.append(
                f"{path}: could not add {POWERTOOLS_REQUIREMENT} to its dependencies "
                "automatically; add it by hand"
            )
        else:
            changes[path] = updated
    return present, changes
