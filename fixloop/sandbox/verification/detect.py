"""The repository's test command: named by the model (``open_pull_request``'s
``test_command``) or found from the files a runner needs.

Found, in this order: pytest configured (``pytest.ini``, ``[pytest]`` in ``tox.ini``,
``[tool:pytest]`` in ``setup.cfg``, ``[tool.pytest...]`` in ``pyproject.toml``);
``package.json``'s ``scripts.test`` (``npm test``, unless it is npm's placeholder); Go
(``go.mod``: ``go test -json ./...``); Maven (``pom.xml``: ``mvn -q test``); Gradle
(``./gradlew test``, or ``gradle test`` without a wrapper); a Makefile ``test`` target;
Python test modules without configuration (pytest runs them).

Each runner says how its whole suite runs and, where it can, how to run only some test
files (a *targeted* run), and where it leaves reports fixloop can read (JUnit XML from
pytest, Maven's surefire and Gradle; ``go test -json``); the rest is read from the output.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from fixloop.sandbox.verification.paths import is_test_module, java_class, package_dir

__all__ = ["SEARCHED", "Runner", "TestCommand", "find_test_command"]

Runner = Literal["pytest", "npm", "go", "maven", "gradle", "make", "command"]

SEARCHED = (
    "pytest configuration (pytest.ini, tox.ini, setup.cfg, pyproject.toml) or test_*.py "
    "files, package.json scripts.test, go.mod, pom.xml, build.gradle, a Makefile test target"
)
"""What was looked for, for the report when nothing was found."""

MAX_CONFIG_BYTES = 1_000_000
PYTEST_FLAGS = "-q -rA -p no:cacheprovider --tb=short --continue-on-collection-errors"
"""Every failure listed, no cache written into the tree, short tracebacks (the failing
line and its exception), and a module that cannot be imported does not stop the others."""
NPM_PLACEHOLDER = "no test specified"
SKIPPED_DIRS = frozenset({"node_modules", "venv", "site-packages", "vendor"})
_PYTEST = re.compile(r"^\s*((?:python3?\s+-m\s+)?pytest)\b")
_GO_TEST = re.compile(r"^\s*go\s+test\b")


@dataclass(frozen=True)
class TestCommand:
    """How to run the repository's tests."""

    __test__ = False  # not a pytest test class

    runner: Runner
    command: str
    """The suite's command as a person runs it (what the report shows)."""
    named: bool = False
    """The model named it (``test_command``)."""

    def suite(self, reports: Path) -> str:
        """The whole suite, writing what reports the runner can into ``reports``."""
        if self.runner == "pytest":
            return f"{self.command} {PYTEST_FLAGS} --junitxml={shlex.quote(str(reports))}/junit.xml"
        if self.runner == "go" and " -json" not in f" {self.command} ":
            return _GO_TEST.sub("go test -json", self.command, count=1)
        return self.command

    def targeted(self, files: list[str], reports: Path) -> str | None:
        """Only the test modules ``files``; None when this runner cannot select them (the
        whole suite runs, and what changed is told from a comparison with the base)."""
        modules = [f for f in files if is_test_module(f)]
        if not modules:
            return None
        quoted = " ".join(shlex.quote(f) for f in modules)
        if self.runner == "pytest":
            match = _PYTEST.match(self.command)
            program = match.group(1) if match else "python -m pytest"
            junit = f"--junitxml={shlex.quote(str(reports))}/junit.xml"
            return f"{program} {PYTEST_FLAGS} {junit} -- {quoted}"
        if self.runner == "go":
            dirs = sorted({package_dir(f) for f in modules if f.endswith("_test.go")})
            return f"go test -json {' '.join(shlex.quote(d) for d in dirs)}" if dirs else None
        if self.runner in ("maven", "gradle"):
            classes = sorted({java_class(f) for f in modules if f.endswith((".java", ".kt"))})
            if not classes:
                return None
            if self.runner == "maven":
                selected = shlex.quote(",".join(classes))
                return f"{self.command} -Dtest={selected} -Dsurefire.failIfNoSpecifiedTests=false"
            return self.command + "".join(f" --tests {shlex.quote(c)}" for c in classes)
        return None

    def report_globs(self) -> tuple[str, ...]:
        """Where, in the tree, the runner leaves JUnit XML reports."""
        if self.runner == "maven":
            return ("target/surefire-reports/TEST-*.xml", "**/target/surefire-reports/TEST-*.xml")
        if self.runner == "gradle":
            return ("build/test-results/test/TEST-*.xml", "**/build/test-results/test/TEST-*.xml")
        return ()


def find_test_command(root: Path, named: str | None = None) -> TestCommand | None:
    """The test command of the tree at ``root``: ``named`` when given (its runner recognised
    from how it starts), else the first runner the tree's files call for; None if none."""
    if named and named.strip():
        return _named(named.strip())
    if _pytest_configured(root):
        return TestCommand("pytest", "python -m pytest")
    if _npm_test(root):
        return TestCommand("npm", "npm test")
    if (root / "go.mod").is_file():
        return TestCommand("go", "go test -json ./...")
    if (root / "pom.xml").is_file():
        return TestCommand("maven", "mvn -q test")
    if (root / "build.gradle").is_file() or (root / "build.gradle.kts").is_file():
        wrapper = (root / "gradlew").is_file()
        return TestCommand("gradle", "./gradlew test" if wrapper else "gradle test")
    if _make_test(root):
        return TestCommand("make", "make test")
    if _python_tests(root):
        return TestCommand("pytest", "python -m pytest")
    return None


def _named(command: str) -> TestCommand:
    first = command.split(None, 1)[0] if command.split() else ""
    if _PYTEST.match(command):
        return TestCommand("pytest", command, named=True)
    if re.match(r"^\s*npm\s+(?:run\s+)?test\b", command):
        return TestCommand("npm", command, named=True)
    if _GO_TEST.match(command):
        return TestCommand("go", command, named=True)
    if first == "mvn" or first.endswith("/mvnw"):
        return TestCommand("maven", command, named=True)
    if first in ("gradle", "./gradlew"):
        return TestCommand("gradle", command, named=True)
    if re.match(r"^\s*make\s+test\b", command):
        return TestCommand("make", command, named=True)
    return TestCommand("command", command, named=True)


def _read(path: Path) -> str:
    """A small configuration file's text ("" if absent, unreadable or too large)."""
    try:
        if not path.is_file() or path.is_symlink() or path.stat().st_size > MAX_CONFIG_BYTES:
            return ""
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _pytest_configured(root: Path) -> bool:
    return (
        (root / "pytest.ini").is_file()
        or "[pytest]" in _read(root / "tox.ini")
        or "[tool:pytest]" in _read(root / "setup.cfg")
        or "[tool.pytest" in _read(root / "pyproject.toml")
    )


def _npm_test(root: Path) -> bool:
    text = _read(root / "package.json")
    if not text:
        return False
    try:
        scripts = json.loads(text).get("scripts") or {}
    except (ValueError, AttributeError, RecursionError):
        return False
    test = scripts.get("test") if isinstance(scripts, dict) else None
    return isinstance(test, str) and bool(test.strip()) and NPM_PLACEHOLDER not in test


def _make_test(root: Path) -> bool:
    for name in ("GNUmakefile", "makefile", "Makefile"):
        if re.search(r"^test\s*:", _read(root / name), re.MULTILINE):
            return True
    return False


def _python_tests(root: Path, limit: int = 50_000) -> bool:
    """Python test modules (or a conftest.py) anywhere but in hidden or vendored folders;
    symbolic links are not followed, and at most ``limit`` entries are looked at."""
    seen = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d not in SKIPPED_DIRS]
        seen += len(dirnames) + len(filenames)
        if seen > limit:
            return False
        rel = Path(dirpath).relative_to(root)
        for name in filenames:
            if name == "conftest.py" or (
                name.endswith(".py") and is_test_module((rel / name).as_posix())
            ):
                return True
    return False
