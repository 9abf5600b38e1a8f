"""What fixloop's own verification of a fix found, before the pull request.

When the model concludes with ``open_pull_request``, fixloop runs the repository's tests in
the sandbox itself (:mod:`fixloop.sandbox.verification`): the tests the change adds or
modifies on the base commit with only those test files applied (they must fail: the
failure is reproduced), the same tests on the fix (they must pass), and the whole suite on
both (no test that passed on the base commit may fail on the fix). The report is recorded
as a :class:`~fixloop.domain.events.Verification` event and decides how the pull request
is opened.

The verification runs as an item of the Run Tools Map whose id is derived from the
``open_pull_request`` call's (:func:`verification_item_id`): no tool_use has that id, and
its result is this report, not a tool result.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

__all__ = [
    "RunKind",
    "Symptom",
    "TestCounts",
    "TestRun",
    "VerificationReport",
    "verification_item_id",
    "verified_call_id",
]

VERIFY_ITEM_PREFIX = "fixloop-verify:"
"""Map item ids of verifications: the prefix, then the ``open_pull_request`` call's id.
Anthropic's tool_use ids are ``toolu_...`` and the scripted model's ``toolu_<hex>``, so no
call of a model has such an id."""

MAX_RUN_OUTPUT_CHARS = 4_000
"""Each run keeps the end of its output (where the failures and the summary are)."""

RunKind = Literal["tests_on_base", "tests_on_fix", "suite_on_base", "suite_on_fix"]


def verification_item_id(tool_use_id: str) -> str:
    """The Run Tools Map item that verifies the change ``open_pull_request`` proposes."""
    return VERIFY_ITEM_PREFIX + tool_use_id


def verified_call_id(item_id: str) -> str | None:
    """The ``open_pull_request`` call a Map item verifies; None for an ordinary call."""
    if item_id.startswith(VERIFY_ITEM_PREFIX):
        return item_id[len(VERIFY_ITEM_PREFIX) :]
    return None


class TestCounts(BaseModel):
    """How many tests a run counted, as its runner reported them."""

    __test__ = False  # not a pytest test class

    passed: int = Field(default=0, ge=0)
    failed: int = Field(default=0, ge=0)
    errors: int = Field(default=0, ge=0)
    skipped: int = Field(default=0, ge=0)

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.errors + self.skipped

    @property
    def failing(self) -> int:
        return self.failed + self.errors

    def describe(self) -> str:
        """``2 failed, 1 skipped``; ``no tests`` when nothing was counted."""
        named = {
            "passed": self.passed,
            "failed": self.failed,
            "errors": self.errors,
            "skipped": self.skipped,
        }
        parts = [f"{n} {word}" for word, n in named.items() if n]
        return ", ".join(parts) or "no tests"


class TestRun(BaseModel):
    """One run of tests in a scratch tree of the sandbox."""

    __test__ = False

    kind: RunKind
    command: str = Field(max_length=2_000)
    exit_code: int | None = None
    """None when it timed out (the run and every process it started were killed)."""
    timed_out: bool = False
    counts: TestCounts | None = None
    """None when the runner's output said nothing fixloop could read: the exit code only."""
    failing_tests: list[str] = Field(default_factory=list, max_length=50)
    """The tests that failed or errored, by the runner's names (at most 50)."""
    exceptions: list[str] = Field(default_factory=list, max_length=20)
    """The exception types its failures show (``KeyError``, ``TypeError``...)."""
    load_failure: bool = False
    """The tests could not even be loaded (an import or compile error): nothing ran."""
    no_tests: bool = False
    """The runner found no test to run."""
    output: str = Field(default="", max_length=MAX_RUN_OUTPUT_CHARS + 200)
    """The end of its output."""
    duration_ms: int = Field(default=0, ge=0)

    @property
    def passed(self) -> bool:
        """It ended well: exit code 0 (or no tests found) and no failure counted."""
        return (
            (self.exit_code == 0 or self.no_tests)
            and not self.timed_out
            and (self.counts is None or self.counts.failing == 0)
        )

    def describe(self) -> str:
        if self.timed_out:
            return "timed out"
        counts = f": {self.counts.describe()}" if self.counts is not None else ""
        return f"exit code {self.exit_code}{counts}"


class Symptom(BaseModel):
    """The production error the signal shows, and whether the reproduction shows it too."""

    expected: list[str] = Field(default_factory=list, max_length=20)
    """The exception types in the signal (triage's parse of its log lines)."""
    seen: list[str] = Field(default_factory=list, max_length=20)
    """The exception types the new tests failed with on the base commit."""
    frames: list[str] = Field(default_factory=list, max_length=20)
    """The signal's application frames (``orders/pricing.py in order_total``) the failures
    went through."""

    @property
    def matched(self) -> bool | None:
        """True when the failures show one of the signal's exception types; None when the
        signal names none (an alarm) or the failures show none."""
        if not self.expected or not self.seen:
            return None
        return bool(set(self.expected) & set(self.seen))


class VerificationReport(BaseModel):
    """What the verification of one proposed change found."""

    reproduced: bool
    """The tests the change adds or modifies fail on the base commit (and could be run)."""
    fixed: bool
    """They pass on the fix, and no test that passed on the base commit fails on it."""
    reason: str = Field(max_length=4_000)
    """Why, in a sentence or two; for a failure, what to do about it."""
    command: str = Field(default="", max_length=2_000)
    """The repository's test command, as found or as the model named it ("" if none)."""
    runner: str = ""
    """pytest, npm, node, go, maven, gradle, make, or command (any other)."""
    tests: list[str] = Field(default_factory=list, max_length=200)
    """The test files the change adds or modifies."""
    runs: list[TestRun] = Field(default_factory=list, max_length=4)
    new_failures: list[str] = Field(default_factory=list, max_length=50)
    """Tests that passed on the base commit and fail on the fix."""
    symptom: Symptom = Field(default_factory=Symptom)
    actionable: bool = True
    """The model can do something about a failure (add or fix a test, fix the code); False
    when the repository has no test command or the verification could not run."""
    duration_ms: int = Field(default=0, ge=0)

    @property
    def verified(self) -> bool:
        return self.reproduced and self.fixed

    def run(self, kind: RunKind) -> TestRun | None:
        return next((r for r in self.runs if r.kind == kind), None)

    def summary(self) -> dict[str, Any]:
        """What the run summary (``--json``) and ``fixloop show`` give of it."""
        base, fix = self.run("suite_on_base"), self.run("suite_on_fix")
        return {
            "reproduced": self.reproduced,
            "fixed": self.fixed,
            "suite": {
                "base": _counts_json(base),
                "fix": _counts_json(fix),
            },
            "command": self.command,
            "reason": self.reason,
            "symptom_matched": self.symptom.matched,
            "tests": list(self.tests),
            "duration_s": round(self.duration_ms / 1000, 3),
        }


def _counts_json(run: TestRun | None) -> dict[str, Any] | None:
    if run is None:
        return None
    counts = run.counts.model_dump() if run.counts is not None else {}
    return {**counts, "exit_code": run.exit_code, "timed_out": run.timed_out}
