"""fixloop's verification as the page shows it, from the two shapes it comes in: the event's
report (each run: what ran, on which commit, its counts, exit code and output) and the
summary ``fixloop show --json`` gives (counts of the suite on each commit). The page's own
module renders both, in the browser, with nothing of their JSON shown."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from fixloop.local.live import LiveServer

if TYPE_CHECKING:
    from playwright.sync_api import Page

REPORT: dict[str, Any] = {
    "reproduced": True,
    "fixed": True,
    "reason": "The new test fails on the base commit and passes with the fix.",
    "command": "python -m pytest -q",
    "runner": "pytest",
    "tests": ["tests/test_unknown_coupon.py"],
    "runs": [
        {
            "kind": "tests_on_base",
            "command": "python -m pytest -q tests/test_unknown_coupon.py",
            "exit_code": 1,
            "counts": {"passed": 0, "failed": 2, "errors": 0, "skipped": 0},
            "output": "FAILED tests/test_unknown_coupon.py::test_unknown_coupon_is_rejected",
            "duration_ms": 900,
        },
        {
            "kind": "suite_on_fix",
            "command": "python -m pytest -q",
            "exit_code": 0,
            "counts": {"passed": 6, "failed": 0, "errors": 0, "skipped": 0},
            "output": "6 passed in 0.05s",
            "duration_ms": 1200,
        },
    ],
    "new_failures": [],
}
SUMMARY: dict[str, Any] = {
    "reproduced": True,
    "fixed": False,
    "suite": {
        "base": {"passed": 4, "failed": 0, "errors": 0, "skipped": 0, "exit_code": 0},
        "fix": {"passed": 3, "failed": 1, "errors": 0, "skipped": 0, "exit_code": 1},
    },
    "command": "python -m pytest -q",
    "reason": "A test that passed before fails with the change.",
}


def _render(page: Page, event: dict[str, Any], with_runs: bool = True) -> str:
    """Render the event's verification with web/js/changes.js; the id of the element."""
    page.evaluate(
        """async ([event, withRuns]) => {
          const m = await import('/js/changes.js');
          const host = document.createElement('section');
          host.id = 'under-test';
          host.append(m.verificationBlock(m.verificationOf(event), { withRuns }));
          document.querySelector('main').append(host);
        }""",
        [event, with_runs],
    )
    return "#under-test"


def test_a_verification_report_reads_as_its_runs(page: Page, live: LiveServer) -> None:
    from playwright.sync_api import expect

    page.goto(live.view_url())
    # When the verification event of a fix (its report) is drawn
    block = page.locator(_render(page, {"type": "verification", "turn": 3, "report": REPORT}))
    # Then it says it reproduced and fixed, with what ran and how each run ended
    expect(block).to_contain_text("Reproducedyes: fails on the base commit")
    expect(block).to_contain_text("Fixedyes: passes with the change")
    expect(block.locator("code", has_text="tests/test_unknown_coupon.py")).to_have_count(1)
    runs = block.get_by_role("list", name="Verification runs").get_by_role("listitem")
    expect(runs).to_have_count(2)
    expect(runs.first).to_contain_text("The change's tests on the base commit")
    expect(runs.first).to_contain_text("2 failed, exit code 1")
    expect(runs.last).to_contain_text("The suite with the fix")
    expect(runs.last.locator(".tool-state.ok")).to_have_text("6 passed, exit code 0")
    # ... each run's output folded
    output = runs.first.locator("details.output")
    expect(output).not_to_have_attribute("open", "")
    output.locator("summary").click()
    expect(output).to_contain_text("FAILED tests/test_unknown_coupon.py")
    assert "{" not in block.inner_text()


def test_a_summarised_verification_reads_as_counts(page: Page, live: LiveServer) -> None:
    from playwright.sync_api import expect

    page.goto(live.view_url())
    # When a verification comes as fixloop show's summary of it
    block = page.locator(_render(page, {"type": "verification", "verification": SUMMARY}))
    # Then the suite's counts on each commit read as words, not JSON
    expect(block).to_contain_text("Fixedno")
    expect(block).to_contain_text("on the base commit: 4 passed, exit code 0")
    expect(block).to_contain_text("with the fix: 3 passed, 1 failed, exit code 1")
    expect(block).to_contain_text("A test that passed before fails with the change.")
    shown = block.inner_text()
    assert not re.search(r"[{}\"]", shown), shown


def test_the_summary_gives_the_result_without_the_runs(page: Page, live: LiveServer) -> None:
    from playwright.sync_api import expect

    page.goto(live.view_url())
    block = page.locator(_render(page, {"report": REPORT}, with_runs=False))
    expect(block).to_contain_text("yes: passes with the change")
    expect(block.get_by_role("list", name="Verification runs")).to_have_count(0)
