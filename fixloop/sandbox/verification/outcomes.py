"""What a test run's reports and output say: counts, which tests failed, with what.

Read in this order of trust: JUnit XML reports (pytest ``--junitxml``, Maven's surefire,
Gradle), ``go test -json`` events, then the summary lines runners print (pytest, jest,
mocha, ``node --test``'s TAP and spec reporters, Maven); failing that, the exit code alone.
Reports and output are written by the repository's tests, so they are untrusted: sizes are
bounded before anything is parsed, and nothing in them is more than data.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from fixloop.domain.verification import TestCounts

__all__ = ["LOAD_ERRORS", "Outcome", "exception_names", "read_outcome"]

MAX_REPORT_BYTES = 20_000_000
"""All of a run's XML reports together."""
MAX_REPORT_FILES = 500
MAX_FAILURE_TEXT = 200_000
MAX_TESTS = 100_000

LOAD_ERRORS = frozenset(
    {
        "ImportError",
        "ModuleNotFoundError",
        "SyntaxError",
        "IndentationError",
        "TabError",
        "ERR_MODULE_NOT_FOUND",
        "ERR_REQUIRE_ESM",
        "ERR_UNKNOWN_FILE_EXTENSION",
    }
)
"""Failures to load a test at all: it did not run, so it shows nothing about the code."""
RUNNER_CODES = frozenset({"ERR_TEST_FAILURE"})
"""Codes a runner wraps every failure in (``node --test``): not the code's exception."""

_COMPILE_FAILURES = re.compile(
    r"COMPILATION ERROR|Compilation failed|error: cannot find symbol|\[build failed\]|"
    r"\[setup failed\]|Cannot find module",
)
_EXCEPTION = re.compile(
    r"(?<![\w$])(?:[A-Za-z_$][\w$]*\.)*([A-Z][\w$]*(?:Error|Exception))\b|\b(ERR_[A-Z_]{3,})\b"
)
_PYTEST_SUMMARY = re.compile(
    r"^=*\s*((?:\d+ (?:passed|failed|errors?|skipped|xfailed|xpassed|warnings?|deselected"
    r"|rerun)(?:, )?)+)\s+in [\d.]+s",
    re.MULTILINE,
)
_JEST_SUMMARY = re.compile(r"^Tests:\s+(.*?)\d+ total", re.MULTILINE)
_MOCHA = re.compile(r"^\s*(\d+) (passing|failing|pending)\b", re.MULTILINE)
_TAP_COUNT = re.compile(r"^(?:#|ℹ) (pass|fail|skipped|skip|todo|cancelled) (\d+)\s*$", re.MULTILINE)
_TAP_TEST = re.compile(r"^\s*(not ok|ok) \d+ - (.+?)(?:\s+#\s*(SKIP|TODO)\b.*)?$", re.MULTILINE)
_MAVEN = re.compile(r"Tests run: (\d+), Failures: (\d+), Errors: (\d+), Skipped: (\d+)")


@dataclass
class Outcome:
    """What one run says about its tests."""

    counts: TestCounts | None = None
    statuses: dict[str, str] = field(default_factory=dict)
    """Test id -> passed, failed, error or skipped (empty when the runner names none)."""
    failure_text: str = ""
    """The failures' messages and tracebacks (bounded)."""
    load_failure: bool = False
    no_tests: bool = False
    """The runner found no test to run (pytest's exit code 5, ``[no test files]``)."""

    @property
    def failing(self) -> list[str]:
        return [t for t, s in self.statuses.items() if s in ("failed", "error")]

    @property
    def exceptions(self) -> list[str]:
        return exception_names(self.failure_text)


def exception_names(text: str, limit: int = 20) -> list[str]:
    """The exception types ``text`` names (``KeyError``, ``NullPointerException``,
    ``ERR_MODULE_NOT_FOUND``), simple names, in order of appearance."""
    found: list[str] = []
    for match in _EXCEPTION.finditer(text):
        name = match.group(1) or match.group(2)
        if name not in found and name not in RUNNER_CODES:
            found.append(name)
            if len(found) >= limit:
                break
    return found


def read_outcome(exit_code: int | None, output: str, reports: list[Path]) -> Outcome:
    """What a run says: its JUnit reports when there are any, else ``go test -json``
    events in its output, else its summary lines; the exit code completes the picture."""
    outcome = _from_junit(reports)
    if outcome is None:
        outcome = _from_go_json(output)
    if outcome is None:
        outcome = _from_text(output)
    if exit_code == 5 and (outcome.counts is None or outcome.counts.total == 0):
        outcome.no_tests = True  # pytest: no tests collected
    if exit_code not in (0, None) and not outcome.load_failure:
        names = exception_names(outcome.failure_text or output)
        nothing_ran = outcome.counts is None or outcome.counts.passed + outcome.counts.failed == 0
        outcome.load_failure = bool(
            (names and set(names) <= LOAD_ERRORS)
            or (nothing_ran and _COMPILE_FAILURES.search(output) is not None)
        )
    if not outcome.failure_text and exit_code not in (0, None):
        outcome.failure_text = output[-MAX_FAILURE_TEXT:]
    return outcome


# -- JUnit XML ---------------------------------------------------------------------------


def _from_junit(reports: list[Path]) -> Outcome | None:
    statuses: dict[str, str] = {}
    texts: list[str] = []
    loads: list[bool] = []
    budget = MAX_REPORT_BYTES
    read_any = False
    for path in sorted(reports)[:MAX_REPORT_FILES]:
        try:
            if path.is_symlink() or not path.is_file():
                continue
            size = path.stat().st_size
            if size > budget:
                break
            budget -= size
            root = ET.fromstring(path.read_bytes())
        except (OSError, ET.ParseError, ValueError):
            continue
        read_any = True
        for case in root.iter("testcase"):
            if len(statuses) >= MAX_TESTS:
                break
            name, classname = case.get("name", ""), case.get("classname", "")
            test_id = f"{classname}::{name}" if classname else name
            status = "passed"
            for child in case:
                if child.tag in ("failure", "error"):
                    status = "failed" if child.tag == "failure" else "error"
                    message = child.get("message", "")
                    loads.append(child.tag == "error" and message == "collection failure")
                    texts.append(
                        f"{test_id}: {child.get('type', '')} {message}\n{child.text or ''}"
                    )
                    break
                if child.tag == "skipped":
                    status = "skipped"
            statuses[test_id] = status
    if not read_any:
        return None
    values = list(statuses.values())
    counts = TestCounts(
        passed=values.count("passed"),
        failed=values.count("failed"),
        errors=values.count("error"),
        skipped=values.count("skipped"),
    )
    return Outcome(
        counts=counts,
        statuses=statuses,
        failure_text=_bounded("\n".join(texts)),
        load_failure=bool(loads) and all(loads),
        no_tests=counts.total == 0,
    )


# -- go test -json -----------------------------------------------------------------------


def _from_go_json(output: str) -> Outcome | None:
    statuses: dict[str, str] = {}
    logs: dict[str, list[str]] = {}
    build_failed = False
    saw_event = False
    no_test_files = False
    for line in output.splitlines():
        if not line.startswith("{"):
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if not isinstance(event, dict) or "Action" not in event:
            continue
        saw_event = True
        action, package, test = event.get("Action"), event.get("Package", ""), event.get("Test")
        text = str(event.get("Output", ""))
        if action in ("build-fail",) or "[build failed]" in text or "[setup failed]" in text:
            build_failed = True
        if "[no test files]" in text:
            no_test_files = True
        if not test:
            continue
        key = f"{package}::{test}"
        if action == "output" and sum(len(v) for v in logs.values()) < MAX_FAILURE_TEXT:
            logs.setdefault(key, []).append(text)
        elif action in ("pass", "fail", "skip") and len(statuses) < MAX_TESTS:
            statuses[key] = {"pass": "passed", "fail": "failed", "skip": "skipped"}[action]
    if not saw_event:
        return None
    values = list(statuses.values())
    failing = [k for k, s in statuses.items() if s == "failed"]
    counts = TestCounts(
        passed=values.count("passed"), failed=len(failing), skipped=values.count("skipped")
    )
    text = "\n".join(f"{k}:\n{''.join(logs.get(k, []))}" for k in failing)
    return Outcome(
        counts=counts,
        statuses=statuses,
        failure_text=_bounded(text),
        load_failure=build_failed and not failing,
        no_tests=no_test_files and counts.total == 0,
    )


# -- summary lines -----------------------------------------------------------------------


def _from_text(output: str) -> Outcome:
    statuses: dict[str, str] = {}
    for match in _TAP_TEST.finditer(output):
        if len(statuses) >= MAX_TESTS:
            break
        verdict, name, directive = match.group(1), match.group(2).strip(), match.group(3)
        statuses[name] = "skipped" if directive else "passed" if verdict == "ok" else "failed"
    return Outcome(counts=_counts(output), statuses=statuses)


def _counts(output: str) -> TestCounts | None:
    """The last summary any common runner printed."""
    pytest_lines = _PYTEST_SUMMARY.findall(output)
    if pytest_lines:
        return _counted(pytest_lines[-1])
    jest = _JEST_SUMMARY.findall(output)
    if jest:
        return _counted(jest[-1])
    tap = _TAP_COUNT.findall(output)
    if tap:
        found = {kind: int(n) for kind, n in tap}
        return TestCounts(
            passed=found.get("pass", 0),
            failed=found.get("fail", 0) + found.get("cancelled", 0),
            skipped=found.get("skipped", 0) + found.get("skip", 0) + found.get("todo", 0),
        )
    mocha = _MOCHA.findall(output)
    if mocha:
        found = {kind: int(n) for n, kind in mocha}
        return TestCounts(
            passed=found.get("passing", 0),
            failed=found.get("failing", 0),
            skipped=found.get("pending", 0),
        )
    maven = _MAVEN.findall(output)
    if maven:
        run, failures, errors, skipped = (int(v) for v in maven[-1])
        passed = max(run - failures - errors - skipped, 0)
        return TestCounts(passed=passed, failed=failures, errors=errors, skipped=skipped)
    return None


def _counted(summary: str) -> TestCounts:
    """``2 failed, 3 passed, 1 skipped`` (pytest, jest) as counts."""
    found: dict[str, int] = {}
    for n, word in re.findall(r"(\d+) ([a-z]+)", summary):
        found[word] = found.get(word, 0) + int(n)
    return TestCounts(
        passed=found.get("passed", 0) + found.get("xpassed", 0),
        failed=found.get("failed", 0),
        errors=found.get("error", 0) + found.get("errors", 0),
        skipped=found.get("skipped", 0) + found.get("xfailed", 0) + found.get("todo", 0),
    )


def _bounded(text: str) -> str:
    return text if len(text) <= MAX_FAILURE_TEXT else text[:MAX_FAILURE_TEXT]
