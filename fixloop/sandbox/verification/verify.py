"""Verify a proposed change in the sandbox: the whole procedure, from the workspace to the
report.

1. The change is the workspace's snapshot (what the pull request would carry); its test
   files are those :mod:`.paths` recognises.
2. A scratch clone with the change applied tells which test command the repository has
   (:mod:`.detect`; the model may name one).
3. On a scratch clone at the base commit: the whole suite, then, with only the change's
   test files applied, those tests (or the suite again, when the runner cannot select files).
4. On the fix: those tests, then the whole suite.
5. :func:`.judge.judge` says what the runs show; the signal's exception types and
   application frames (triage's parse) say whether the reproduction fails the way
   production did.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from fixloop.domain import Signal
from fixloop.domain.verification import RunKind, Symptom, TestRun, VerificationReport
from fixloop.sandbox.verification.detect import SEARCHED, find_test_command
from fixloop.sandbox.verification.judge import Observed, Verdict, judge, unrunnable_verdict
from fixloop.sandbox.verification.paths import is_test_file, is_test_module
from fixloop.sandbox.verification.runs import TestTree, apply_files, run_tests, scratch
from fixloop.sandbox.workspace import Workspace
from fixloop.triage import application_frames, parse_error

__all__ = ["fit_report", "signal_symptom", "verify_change"]

OUTPUT_BUDGETS = (2_000, 800, 300, 0)
"""Characters of each run's output kept when a report must be made smaller."""


def verify_change(
    workspace: Workspace, signal: Signal, *, test_command: str | None, timeout_s: float
) -> VerificationReport:
    """Run the verification of the workspace's change (at most four test runs, each killed
    after ``timeout_s``) and say what it showed."""
    started = time.monotonic()
    snapshot = workspace.snapshot()

    def report(verdict: Verdict, **fields: object) -> VerificationReport:
        return VerificationReport.model_validate(
            {
                "reproduced": verdict.reproduced,
                "fixed": verdict.fixed,
                "reason": verdict.reason[:4_000],
                "actionable": verdict.actionable,
                "new_failures": verdict.new_failures,
                "duration_ms": int((time.monotonic() - started) * 1000),
                **fields,
            }
        )

    if not snapshot.files:
        return report(Verdict(False, False, ["The change is empty: there is nothing to verify."]))
    test_changes = [f for f in snapshot.files if is_test_file(f.path)]
    tests = [f.path for f in test_changes if f.content_b64 is not None][:200]
    modules = [path for path in tests if is_test_module(path)]
    with scratch(workspace) as tmp:
        fix = tmp.fix(snapshot)
        command = find_test_command(fix.root, test_command)
        if command is None:
            why = (
                f"The repository has no test command fixloop could find (it looked for "
                f"{SEARCHED}), so the fix could not be verified. If it has one, name it in "
                "open_pull_request's test_command."
            )
            return report(Verdict(False, False, [why], actionable=False), tests=tests)
        found = {"command": command.command, "runner": command.runner, "tests": tests}
        if not modules:
            expected = signal_symptom(signal)[0]
            shown = f" ({', '.join(expected[:3])})" if expected else ""
            why = (
                "The change adds or modifies no test, so nothing shows the failure on the base "
                "commit nor the fix making it pass: add a test that fails on the base commit "
                f"the way production does{shown} and passes with the fix."
            )
            return report(Verdict(False, False, [why]), **found)
        base = tmp.base()
        runs: list[TestRun] = []

        def observe(kind: RunKind, command_text: str, tree: TestTree) -> Observed:
            run, outcome = run_tests(kind, command_text, tree, command, timeout_s)
            runs.append(run)
            return Observed(run, outcome)

        suite_base = observe("suite_on_base", command.suite(base.reports), base)
        early = unrunnable_verdict(command.command, command.named, suite_base)
        if early is not None:
            return report(early, runs=runs, **found)
        apply_files(base, test_changes)
        targeted = command.targeted(modules, base.reports)
        tests_base = observe("tests_on_base", targeted or command.suite(base.reports), base)
        tests_fix = (
            observe("tests_on_fix", command.targeted(modules, fix.reports) or "", fix)
            if targeted
            else None
        )
        suite_fix = observe("suite_on_fix", command.suite(fix.reports), fix)
        expected, frames = signal_symptom(signal)
        symptom = Symptom(
            expected=expected,
            seen=tests_base.run.exceptions,
            frames=_frames_hit(frames, tests_base.outcome.failure_text, fix.root),
        )
    verdict = judge(
        command=command.command,
        named=command.named,
        tests=modules,
        targeted=targeted is not None,
        suite_base=suite_base,
        tests_base=tests_base,
        tests_fix=tests_fix,
        suite_fix=suite_fix,
        symptom=symptom,
    )
    return report(verdict, runs=runs, symptom=symptom, **found)


def signal_symptom(signal: Signal) -> tuple[list[str], list[tuple[str, str, str]]]:
    """The exception types of the signal's errors, and its application frames as (path to
    show, file name, function), by triage's parser."""
    types: list[str] = []
    for line in signal.log_lines[:200]:
        name = parse_error(line.message).exception_type.rsplit(".", 1)[-1]
        if name and name not in types:
            types.append(name)
    text = "\n".join(line.message for line in signal.log_lines[:200])
    frames = [
        (f.source_path, os.path.basename(f.file), f.function.rsplit(".", 1)[-1])
        for f in application_frames(text)[:20]
    ]
    return types[:20], frames


def _frames_hit(frames: list[tuple[str, str, str]], failure_text: str, root: Path) -> list[str]:
    """The signal's frames a failure went through: a line of the failure naming both the
    frame's file and its function (as a word of its own), shown as the repository's path."""
    lines = failure_text.splitlines()
    hit: list[str] = []
    for path, filename, function in frames:
        if not filename or not function:
            continue
        word = re.compile(r"(?<![\w.$])" + re.escape(function) + r"(?![\w.$])")
        if any(filename in line and word.search(line) for line in lines):
            label = f"{_in_repository(path, root)} in {function}"
            if label not in hit:
                hit.append(label)
    return hit


def _in_repository(path: str, root: Path) -> str:
    """The frame's path as the repository has it (``/var/task/orders/app.py`` ->
    ``orders/app.py``), or as the trace named it."""
    parts = [p for p in path.split("/") if p]
    for i in range(len(parts)):
        candidate = "/".join(parts[i:])
        if ".." not in parts[i:] and (root / candidate).is_file():
            return candidate
    return path


def fit_report(report: VerificationReport, limit: int) -> str:
    """The report as JSON within ``limit`` characters: the runs' outputs are cut first
    (their ends kept), then the lists of tests."""
    text = report.model_dump_json()
    for budget in OUTPUT_BUDGETS:
        if len(text) <= limit:
            return text
        runs = [r.model_copy(update={"output": _end(r.output, budget)}) for r in report.runs]
        report = report.model_copy(update={"runs": runs})
        text = report.model_dump_json()
    if len(text) > limit:
        runs = [r.model_copy(update={"failing_tests": r.failing_tests[:3]}) for r in report.runs]
        fewer = {"runs": runs, "tests": report.tests[:10], "new_failures": report.new_failures[:5]}
        report = report.model_copy(update=fewer)
        text = report.model_dump_json()
    return text


def _end(text: str, chars: int) -> str:
    return text[-chars:] if chars else ""
