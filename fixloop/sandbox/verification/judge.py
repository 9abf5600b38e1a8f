"""From the runs to the verdict: was the failure reproduced, is it fixed, and why not.

Pure: it reads the runs (and what their reports said) and nothing else, so every rule is
tested without running anything.

- *reproduced*: the tests the change adds or modifies fail on the base commit with only the
  test files applied, and not because they cannot be loaded there (an ``ImportError`` of a
  class the fix adds shows nothing about the production failure). When the runner cannot
  run chosen files, the whole suite runs with the tests applied and is compared with the
  plain base commit: by test names when its reports name tests, else by counts, else by
  exit codes.
- *fixed*: those tests pass on the fix, and no test that passed on the base commit fails
  on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fixloop.domain.verification import Symptom, TestRun
from fixloop.sandbox.verification.outcomes import Outcome

__all__ = ["Observed", "Verdict", "judge", "unrunnable_verdict"]

UNRUNNABLE_EXIT_CODES = frozenset({126, 127})
"""bash: the program could not be executed, or was not found."""
FAILING = ("failed", "error")


@dataclass(frozen=True)
class Observed:
    """A run and what its reports said."""

    run: TestRun
    outcome: Outcome


@dataclass
class Verdict:
    reproduced: bool
    fixed: bool
    reasons: list[str] = field(default_factory=list)
    actionable: bool = True
    new_failures: list[str] = field(default_factory=list)

    @property
    def reason(self) -> str:
        return " ".join(self.reasons)


def judge(
    *,
    command: str,
    named: bool,
    tests: list[str],
    targeted: bool,
    suite_base: Observed,
    tests_base: Observed,
    tests_fix: Observed | None,
    suite_fix: Observed,
    symptom: Symptom,
) -> Verdict:
    """The verdict on a change whose tests ``tests`` ran as these four runs (``tests_fix``
    None when the runner could not select them: the fix's suite stands in)."""
    early = unrunnable_verdict(command, named, suite_base)
    if early is not None:
        return early
    verdict = Verdict(False, False)
    verdict.reproduced = _reproduced(
        verdict,
        tests=tests,
        targeted=targeted,
        suite_base=suite_base,
        tests_base=tests_base,
        symptom=symptom,
    )
    verdict.fixed = _fixed(verdict, targeted, suite_base, tests_fix, suite_fix)
    if verdict.reproduced and verdict.fixed:
        shown = f" with {', '.join(symptom.seen[:3])}, as in production," if symptom.matched else ""
        verdict.reasons = [
            f"The tests the change adds or modifies fail on the base commit{shown} and pass "
            f"on the fix; the suite has no new failure ({_briefly(suite_fix.run)} on the fix, "
            f"{_briefly(suite_base.run)} on the base commit)."
        ]
    return verdict


def unrunnable_verdict(command: str, named: bool, suite_base: Observed) -> Verdict | None:
    """The verdict when the test command could not even start on the base commit (the
    model can fix that only when it named the command)."""
    if suite_base.run.exit_code not in UNRUNNABLE_EXIT_CODES:
        return None
    why = _last_line(suite_base.run.output) or f"exit code {suite_base.run.exit_code}"
    return Verdict(
        False,
        False,
        [f"The test command `{command}` could not run on the base commit ({why})."],
        actionable=named,
    )


def _reproduced(
    verdict: Verdict,
    *,
    tests: list[str],
    targeted: bool,
    suite_base: Observed,
    tests_base: Observed,
    symptom: Symptom,
) -> bool:
    run = tests_base.run
    names = ", ".join(tests[:5]) + (" ..." if len(tests) > 5 else "")
    if run.timed_out:
        verdict.reasons.append(f"The new tests ({names}) timed out on the base commit.")
        return False
    if targeted and run.no_tests:
        verdict.reasons.append(f"The runner found no test in {names} on the base commit.")
        return False
    failed = (not run.passed) if targeted else _newly_failing(tests_base, suite_base)
    if failed is None:
        verdict.reasons.append(
            "Cannot tell whether the new tests fail on the base commit: the suite fails there "
            "already and its output names no tests or counts."
        )
        return False
    if not failed:
        expected = f" ({', '.join(symptom.expected[:3])})" if symptom.expected else ""
        verdict.reasons.append(
            f"The new tests ({names}) pass on the base commit, so they do not reproduce the "
            f"failure: make them exercise the code path of the production error{expected}, "
            "so that they fail on the base commit and pass with the fix."
        )
        return False
    if run.load_failure:
        errors = ", ".join(run.exceptions[:3]) or "an import or compile error"
        verdict.reasons.append(
            f"The new tests cannot even be loaded on the base commit ({errors}): a test that "
            "fails to import or compile there reproduces nothing. Use only what exists on the "
            "base commit to reach the failing code, so that the test fails the way production "
            "does."
        )
        return False
    if symptom.matched is False:
        verdict.reasons.append(
            f"(The new tests fail on the base commit with {', '.join(symptom.seen[:3])}; "
            f"production failed with {', '.join(symptom.expected[:3])}.)"
        )
    return True


def _fixed(
    verdict: Verdict,
    targeted: bool,
    suite_base: Observed,
    tests_fix: Observed | None,
    suite_fix: Observed,
) -> bool:
    if suite_fix.run.timed_out:
        verdict.reasons.append("The suite timed out on the fix.")
        return False
    if targeted and tests_fix is not None:
        if tests_fix.run.timed_out:
            verdict.reasons.append("The new tests timed out on the fix.")
            return False
        tests_pass: bool | None = tests_fix.run.passed
    else:
        newly = _newly_failing(suite_fix, suite_base)
        tests_pass = None if newly is None else not newly
    verdict.new_failures = _new_failures(suite_base, suite_fix)
    if tests_pass is None:
        verdict.reasons.append(
            "Cannot tell whether the new tests pass on the fix: the suite fails on the base "
            "commit and on the fix, and its output names no tests or counts."
        )
        return False
    if not tests_pass:
        failing = (tests_fix or suite_fix).run.failing_tests[:5]
        which = f" ({', '.join(failing)})" if failing else ""
        verdict.reasons.append(f"The new tests fail on the fix{which}.")
    if verdict.new_failures:
        verdict.reasons.append(
            "Tests that pass on the base commit fail on the fix: "
            f"{', '.join(verdict.new_failures[:10])}."
        )
    return tests_pass and not verdict.new_failures


def _newly_failing(run: Observed, base: Observed) -> bool | None:
    """Whether ``run`` fails where ``base`` did not; None when the runs cannot tell."""
    if run.outcome.statuses and base.outcome.statuses:
        before = base.outcome.statuses
        return any(
            status in FAILING and before.get(test) not in FAILING
            for test, status in run.outcome.statuses.items()
        )
    if run.run.counts is not None and base.run.counts is not None:
        return run.run.counts.failing > base.run.counts.failing
    if base.run.passed:
        return not run.run.passed
    return None


def _new_failures(base: Observed, fix: Observed) -> list[str]:
    """Tests that passed on the base commit and fail on the fix (by name, else by count,
    else by exit code)."""
    if fix.outcome.statuses and base.outcome.statuses:
        before = base.outcome.statuses
        return [
            test
            for test, status in fix.outcome.statuses.items()
            if status in FAILING and before.get(test) == "passed"
        ][:50]
    if fix.run.counts is not None and base.run.counts is not None:
        if fix.run.counts.failing > base.run.counts.failing:
            more = fix.run.counts.failing - base.run.counts.failing
            return [f"{more} more failing test(s) than on the base commit"]
        return []
    if base.run.passed and not fix.run.passed:
        return ["the suite passes on the base commit and fails on the fix"]
    return []


def _briefly(run: TestRun) -> str:
    return run.counts.describe() if run.counts is not None else run.describe()


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""
