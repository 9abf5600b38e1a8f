"""fixloop's verification of a fix, the pure parts: which files are tests, which command
runs them, what runs say, and the verdict they lead to."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fixloop.agent.toolset import default_registry
from fixloop.delivery.body import verified_section
from fixloop.domain import parse_signal
from fixloop.domain.verification import (
    Symptom,
    TestCounts,
    TestRun,
    VerificationReport,
    verification_item_id,
    verified_call_id,
)
from fixloop.sandbox.verification import VERIFY_FIX, find_test_command, is_test_file
from fixloop.sandbox.verification import is_test_module as module
from fixloop.sandbox.verification.judge import Observed, judge
from fixloop.sandbox.verification.outcomes import Outcome, read_outcome
from fixloop.sandbox.verification.verify import fit_report, signal_symptom
from tests.support import logs_message

# -- which files are tests ----------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "tests/test_pricing.py",
        "pkg/pricing_test.py",
        "orders/pricing_test.go",
        "src/cart.test.js",
        "web/cart.spec.ts",
        "test/cart.js",
        "__tests__/cart.mjs",
        "src/test/java/com/acme/PricingTest.java",
        "src/test/kotlin/PricingTests.kt",
    ],
)
def test_test_modules_by_each_runner_convention(path: str) -> None:
    assert module(path) and is_test_file(path)


@pytest.mark.parametrize(
    ("path", "is_file"),
    [
        ("tests/conftest.py", True),
        ("tests/fixtures/order.json", True),
        ("testdata/input.txt", True),
        ("orders/pricing.py", False),
        ("src/contest.js", False),
        ("README.md", False),
    ],
)
def test_support_files_of_a_suite_are_test_files_but_not_modules(path: str, is_file: bool) -> None:
    assert is_test_file(path) is is_file
    assert not module(path)


# -- which command runs them ----------------------------------------------------------------


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


@pytest.mark.parametrize(
    ("files", "runner", "command"),
    [
        ({"pyproject.toml": "[tool.pytest.ini_options]\n"}, "pytest", "python -m pytest"),
        ({"setup.cfg": "[tool:pytest]\n"}, "pytest", "python -m pytest"),
        ({"tox.ini": "[pytest]\n"}, "pytest", "python -m pytest"),
        ({"package.json": '{"scripts": {"test": "node --test"}}'}, "npm", "npm test"),
        ({"go.mod": "module x\n"}, "go", "go test -json ./..."),
        ({"pom.xml": "<project/>"}, "maven", "mvn -q test"),
        ({"build.gradle": "", "gradlew": ""}, "gradle", "./gradlew test"),
        ({"Makefile": "test:\n\tpytest\n"}, "make", "make test"),
        ({"tests/test_x.py": ""}, "pytest", "python -m pytest"),
    ],
)
def test_the_test_command_is_found_from_the_files_a_runner_needs(
    tmp_path: Path, files: dict[str, str], runner: str, command: str
) -> None:
    found = find_test_command(_tree(tmp_path, files))
    assert found is not None
    assert (found.runner, found.command, found.named) == (runner, command, False)


def test_no_test_command_when_nothing_calls_for_one(tmp_path: Path) -> None:
    files = {
        "app/handler.py": "",
        "package.json": json.dumps({"scripts": {"test": 'echo "Error: no test specified"'}}),
        "Makefile": "build:\n\ttrue\n",
        ".venv/lib/test_vendored.py": "",
        "node_modules/x/test_y.py": "",
    }
    assert find_test_command(_tree(tmp_path, files)) is None


def test_a_named_command_wins_and_its_runner_is_recognised(tmp_path: Path) -> None:
    tree = _tree(tmp_path, {"package.json": '{"scripts": {"test": "jest"}}'})
    assert find_test_command(tree, "pytest -x tests").runner == "pytest"  # type: ignore[union-attr]
    custom = find_test_command(tree, "./run-tests.sh")
    assert custom is not None and (custom.runner, custom.named) == ("command", True)
    assert custom.targeted(["tests/test_a.py"], tmp_path) is None


def test_targeted_runs_name_the_changed_test_modules_only(tmp_path: Path) -> None:
    reports = tmp_path / "r"
    pytest_cmd = find_test_command(_tree(tmp_path, {"pytest.ini": ""}))
    assert pytest_cmd is not None
    targeted = pytest_cmd.targeted(["tests/test_a.py", "tests/conftest.py"], reports)
    assert targeted is not None and targeted.endswith("-- tests/test_a.py")
    assert f"--junitxml={reports}/junit.xml" in targeted
    go = find_test_command(tmp_path, "go test ./...")
    assert go is not None and go.suite(reports) == "go test -json ./..."
    assert go.targeted(["a/b_test.go", "c_test.go"], reports) == "go test -json . ./a"
    maven = find_test_command(tmp_path, "mvn -q test")
    assert maven is not None
    assert maven.targeted(["src/test/java/a/FooTest.java"], reports) == (
        "mvn -q test -Dtest=FooTest -Dsurefire.failIfNoSpecifiedTests=false"
    )
    npm = find_test_command(tmp_path, "npm test")
    assert npm is not None and npm.targeted(["test/a.test.js"], reports) is None


# -- what runs say ------------------------------------------------------------------------

JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite>
<testcase classname="tests.test_a" name="test_ok" time="0"/>
<testcase classname="tests.test_a" name="test_bad" time="0"><failure message="KeyError: 'SUMMER23'">
orders/pricing.py:24: in order_total
E   KeyError: 'SUMMER23'</failure></testcase>
<testcase classname="tests.test_a" name="test_skip"><skipped message="later"/></testcase>
</testsuite></testsuites>"""

COLLECTION_ERROR = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite>
<testcase classname="" name="tests.test_new"><error message="collection failure">
E   ImportError: cannot import name 'InvalidCoupon' from 'orders.pricing'</error></testcase>
</testsuite></testsuites>"""


def test_junit_reports_give_counts_names_and_exceptions(tmp_path: Path) -> None:
    (tmp_path / "junit.xml").write_text(JUNIT)
    outcome = read_outcome(1, "", [tmp_path / "junit.xml"])
    assert outcome.counts == TestCounts(passed=1, failed=1, skipped=1)
    assert outcome.failing == ["tests.test_a::test_bad"]
    assert outcome.exceptions == ["KeyError"]
    assert not outcome.load_failure


def test_a_test_that_cannot_be_imported_is_a_load_failure(tmp_path: Path) -> None:
    (tmp_path / "junit.xml").write_text(COLLECTION_ERROR)
    outcome = read_outcome(1, "", [tmp_path / "junit.xml"])
    assert outcome.load_failure
    assert outcome.exceptions == ["ImportError"]


def test_a_report_that_is_not_xml_is_ignored_and_the_output_read(tmp_path: Path) -> None:
    (tmp_path / "junit.xml").write_text("<testsuites><testcase")
    outcome = read_outcome(1, "==== 1 failed, 3 passed in 0.10s ====\n", [tmp_path / "junit.xml"])
    assert outcome.counts == TestCounts(passed=3, failed=1)


def test_go_test_json_events() -> None:
    events = [
        {"Action": "run", "Package": "x/pricing", "Test": "TestTotal"},
        {
            "Action": "output",
            "Package": "x/pricing",
            "Test": "TestTotal",
            "Output": "panic: runtime error: index out of range\n",
        },
        {"Action": "fail", "Package": "x/pricing", "Test": "TestTotal"},
        {"Action": "pass", "Package": "x/pricing", "Test": "TestOther"},
        {"Action": "fail", "Package": "x/pricing"},
    ]
    output = "\n".join(json.dumps(e) for e in events)
    outcome = read_outcome(1, output, [])
    assert outcome.counts == TestCounts(passed=1, failed=1)
    assert outcome.statuses == {"x/pricing::TestTotal": "failed", "x/pricing::TestOther": "passed"}
    assert "index out of range" in outcome.failure_text
    build = json.dumps({"Action": "output", "Package": "x", "Output": "FAIL x [build failed]\n"})
    assert read_outcome(1, build, []).load_failure


@pytest.mark.parametrize(
    ("output", "counts"),
    [
        ("Tests:       1 failed, 2 passed, 3 total\n", TestCounts(passed=2, failed=1)),
        (
            "  2 passing (5ms)\n  1 failing\n  1 pending\n",
            TestCounts(passed=2, failed=1, skipped=1),
        ),
        ("1..2\n# tests 2\n# pass 1\n# fail 1\n# skipped 0\n", TestCounts(passed=1, failed=1)),
        ("ℹ tests 2\nℹ pass 2\nℹ fail 0\n", TestCounts(passed=2)),
        (
            "Tests run: 5, Failures: 1, Errors: 1, Skipped: 1\n",
            TestCounts(passed=2, failed=1, errors=1, skipped=1),
        ),
        ("make: *** [test] Error 1\n", None),
    ],
)
def test_summary_lines_of_common_runners(output: str, counts: TestCounts | None) -> None:
    assert read_outcome(1, output, []).counts == counts


def test_tap_lines_name_the_tests_and_node_syntax_errors_are_load_failures() -> None:
    tap = (
        "ok 1 - sums\nnot ok 2 - empty cart\n  ---\n  name: 'TypeError'\n"
        "  code: 'ERR_TEST_FAILURE'\n"
    )
    outcome = read_outcome(1, tap, [])
    assert outcome.statuses == {"sums": "passed", "empty cart": "failed"}
    assert outcome.exceptions == ["TypeError"]  # the runner's own code is not the code's
    broken = "not ok 1 - test/a.test.js\n  SyntaxError: Unexpected token '}'\n"
    assert read_outcome(1, broken, []).load_failure


def test_pytest_exit_code_5_is_no_tests() -> None:
    assert read_outcome(5, "no tests ran in 0.01s\n", []).no_tests


# -- the verdict --------------------------------------------------------------------------


def _observed(
    kind: str,
    exit_code: int,
    statuses: dict[str, str] | None = None,
    *,
    exceptions: list[str] | None = None,
    load: bool = False,
) -> Observed:
    statuses = statuses or {}
    values = list(statuses.values())
    counts = TestCounts(passed=values.count("passed"), failed=values.count("failed"))
    run = TestRun.model_validate(
        {
            "kind": kind,
            "command": "pytest",
            "exit_code": exit_code,
            "counts": counts if statuses else None,
            "failing_tests": [t for t, s in statuses.items() if s == "failed"],
            "exceptions": exceptions or [],
            "load_failure": load,
        }
    )
    return Observed(run, Outcome(counts=run.counts, statuses=dict(statuses), load_failure=load))


BASE = {"t::old": "passed", "t::other": "passed"}
KEYERROR = Symptom(expected=["KeyError"], seen=["KeyError"])


def _judge(
    tests_base: Observed,
    tests_fix: Observed | None,
    suite_fix: Observed,
    *,
    targeted: bool = True,
    symptom: Symptom = KEYERROR,
    suite_base: Observed | None = None,
) -> tuple[bool, bool, str, list[str]]:
    verdict = judge(
        command="python -m pytest",
        named=False,
        tests=["tests/test_new.py"],
        targeted=targeted,
        suite_base=suite_base or _observed("suite_on_base", 0, BASE),
        tests_base=tests_base,
        tests_fix=tests_fix,
        suite_fix=suite_fix,
        symptom=symptom,
    )
    return verdict.reproduced, verdict.fixed, verdict.reason, verdict.new_failures


def test_verified_when_the_new_test_fails_on_base_and_passes_on_the_fix() -> None:
    reproduced, fixed, reason, _ = _judge(
        _observed("tests_on_base", 1, {"t::new": "failed"}, exceptions=["KeyError"]),
        _observed("tests_on_fix", 0, {"t::new": "passed"}),
        _observed("suite_on_fix", 0, {**BASE, "t::new": "passed"}),
    )
    assert (reproduced, fixed) == (True, True)
    assert "with KeyError, as in production" in reason


def test_a_new_test_that_passes_on_base_reproduces_nothing() -> None:
    reproduced, fixed, reason, _ = _judge(
        _observed("tests_on_base", 0, {"t::new": "passed"}),
        _observed("tests_on_fix", 0, {"t::new": "passed"}),
        _observed("suite_on_fix", 0, {**BASE, "t::new": "passed"}),
    )
    assert (reproduced, fixed) == (False, True)
    assert "pass on the base commit, so they do not reproduce the failure" in reason
    assert "(KeyError)" in reason


def test_an_import_error_on_base_reproduces_nothing() -> None:
    reproduced, _, reason, _ = _judge(
        _observed("tests_on_base", 1, {"t::new": "failed"}, exceptions=["ImportError"], load=True),
        _observed("tests_on_fix", 0, {"t::new": "passed"}),
        _observed("suite_on_fix", 0, {**BASE, "t::new": "passed"}),
    )
    assert not reproduced
    assert "cannot even be loaded on the base commit (ImportError)" in reason


def test_a_fix_that_breaks_another_test_is_not_fixed() -> None:
    reproduced, fixed, reason, new_failures = _judge(
        _observed("tests_on_base", 1, {"t::new": "failed"}),
        _observed("tests_on_fix", 0, {"t::new": "passed"}),
        _observed(
            "suite_on_fix", 1, {"t::old": "failed", "t::other": "passed", "t::new": "passed"}
        ),
    )
    assert (reproduced, fixed) == (True, False)
    assert new_failures == ["t::old"]
    assert "Tests that pass on the base commit fail on the fix: t::old." in reason


def test_without_targeting_the_suites_are_compared() -> None:
    # Given a runner that cannot select files: the suite with the tests applied on base,
    # against the plain base, by test names; counts when the runner names none
    named = _judge(
        _observed("tests_on_base", 1, {**BASE, "t::new": "failed"}),
        None,
        _observed("suite_on_fix", 0, {**BASE, "t::new": "passed"}),
        targeted=False,
    )
    assert named[:2] == (True, True)
    counted = _judge(
        _observed("tests_on_base", 1),
        None,
        _observed("suite_on_fix", 1),
        targeted=False,
        suite_base=_observed("suite_on_base", 0),
    )
    assert counted[:2] == (True, False)  # exit codes only: the suite fails on the fix
    assert "the suite passes on the base commit and fails on the fix" in counted[3]


def test_a_command_that_cannot_start_is_not_the_models_to_fix() -> None:
    verdict = judge(
        command="python -m pytest",
        named=False,
        tests=["tests/test_new.py"],
        targeted=True,
        suite_base=_observed("suite_on_base", 127),
        tests_base=_observed("tests_on_base", 127),
        tests_fix=None,
        suite_fix=_observed("suite_on_fix", 127),
        symptom=Symptom(),
    )
    assert (verdict.reproduced, verdict.fixed, verdict.actionable) == (False, False, False)
    assert "could not run on the base commit" in verdict.reason


# -- the signal's symptom, the report, the tool ------------------------------------------------


def test_the_signals_exception_types_and_frames_by_triage() -> None:
    signal = parse_signal(
        logs_message(
            [
                "Traceback (most recent call last):\n"
                '  File "/var/task/orders/pricing.py", line 24, in order_total\n'
                "    percent = COUPONS[code]\nKeyError: 'SUMMER23'"
            ]
        )
    )
    types, frames = signal_symptom(signal)
    assert types == ["KeyError"]
    assert frames == [("/var/task/orders/pricing.py", "pricing.py", "order_total")]


def _report(output: str = "x" * 4_000) -> VerificationReport:
    run = TestRun(kind="tests_on_base", command="pytest", exit_code=1, output=output)
    return VerificationReport(
        reproduced=True, fixed=False, reason="r", runs=[run, run.model_copy(), run.model_copy()]
    )


def test_a_report_is_cut_to_the_output_limit_keeping_the_ends_of_outputs() -> None:
    text = fit_report(_report("head " + "x" * 3_990 + " tail"), 3_000)
    assert len(text) <= 3_000
    again = VerificationReport.model_validate_json(text)
    assert all(r.output.endswith(" tail") for r in again.runs)


def test_the_summary_and_the_pull_request_section() -> None:
    counts = TestCounts(passed=4)
    runs = [
        TestRun(kind="suite_on_base", command="pytest", exit_code=0, counts=TestCounts(passed=2)),
        TestRun(kind="tests_on_base", command="pytest t", exit_code=1, output="E   KeyError"),
        TestRun(kind="tests_on_fix", command="pytest t", exit_code=0, output="2 passed"),
        TestRun(kind="suite_on_fix", command="pytest", exit_code=0, counts=counts),
    ]
    report = VerificationReport(
        reproduced=True,
        fixed=True,
        reason="fine",
        command="python -m pytest",
        runs=runs,
        symptom=Symptom(expected=["KeyError"], seen=["KeyError"], frames=["a.py in f"]),
    )
    summary = report.summary()
    assert (summary["reproduced"], summary["fixed"], summary["command"]) == (
        True,
        True,
        "python -m pytest",
    )
    assert summary["suite"]["base"]["passed"] == 2 and summary["suite"]["fix"]["passed"] == 4
    section = "\n\n".join(verified_section(report))
    assert section.startswith("**Verified.** fine")
    assert "fails with KeyError, as in production; through `a.py in f`" in section
    assert "E   KeyError" in section and "2 passed" in section


def test_verification_items_are_not_tool_calls_and_the_model_cannot_call_verify() -> None:
    item = verification_item_id("toolu_01abc")
    assert verified_call_id(item) == "toolu_01abc"
    assert verified_call_id("toolu_01abc") is None
    assert VERIFY_FIX.name not in default_registry().names
