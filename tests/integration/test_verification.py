"""fixloop verifies a fix itself before its pull request, on the embedded runtime: the new
tests fail on the base commit and pass with the fix, and no other test newly fails; a
failure goes back to the model, then the fix is delivered as an unverified draft, or not
at all."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fixloop.delivery.local import LocalGitCodeHost, LocalPullRequest
from fixloop.domain import ToolResult, Verification
from fixloop.store import stores
from tests.integration.scenario import log_of, run_scripted, start_scripted
from tests.runtime import LocalRuntime
from tests.support import logs_message, make_repo, processes_with, text, tool_use

PRICING = "COUPONS = {'WELCOME10': 10}\n\n\ndef discount(code):\n    return COUPONS[code.upper()]\n"
FIXED = (
    "COUPONS = {'WELCOME10': 10}\n"
    "\n"
    "\n"
    "def discount(code):\n"
    "    return COUPONS.get(code.upper(), 0)\n"
)
KNOWN = (
    "from app.pricing import discount\n\n\ndef test_known_coupon():\n"
    "    assert discount('welcome10') == 10\n"
)
UNKNOWN = (
    "from app.pricing import discount\n\n\ndef test_unknown_coupon_gives_no_discount():\n"
    "    assert discount('SUMMER23') == 0\n"
)
SIGNAL = logs_message(
    [
        "Traceback (most recent call last):\n"
        '  File "/var/task/app/pricing.py", line 5, in discount\n'
        "    return COUPONS[code.upper()]\n"
        "KeyError: 'SUMMER23'"
    ]
)


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """A service with a test suite and the bug of the signal."""
    return make_repo(
        tmp_path / "shop",
        {"app/__init__.py": "", "app/pricing.py": PRICING, "tests/test_pricing.py": KNOWN},
    )


@pytest.fixture
def configured(runtime: LocalRuntime) -> Iterator[Any]:
    changed: set[str] = set()

    def set_(**settings: str) -> None:
        changed.update(settings)
        runtime.configure(**settings)

    yield set_
    runtime.configure(**dict.fromkeys(changed))


def _fix() -> list[dict[str, Any]]:
    return [tool_use("write_file", path="app/pricing.py", content=FIXED)]


def _verifications(investigation_id: str) -> list[Verification]:
    return [e.event for e in log_of(investigation_id) if isinstance(e.event, Verification)]


def _result_of(investigation_id: str, name: str) -> list[ToolResult]:
    return [
        e.event
        for e in log_of(investigation_id)
        if isinstance(e.event, ToolResult) and e.event.name == name
    ]


def _pull(repo: Path, investigation_id: str) -> LocalPullRequest:
    found = LocalGitCodeHost(repo).find(investigation_id)
    assert found is not None
    return found


def test_a_test_that_passes_on_base_goes_back_to_the_model_which_then_reproduces(
    runtime: LocalRuntime, shop: Path, tmp_path: Path
) -> None:
    # Given a model whose first test passes on the base commit (it reproduces nothing),
    # and which writes one that fails there once it is told
    passing = KNOWN.replace("test_known_coupon", "test_known_coupon_again")
    turns = [
        [tool_use("write_file", path="tests/test_again.py", content=passing), *_fix()],
        [tool_use("open_pull_request", title="Unknown coupons", body="First try.")],
        [
            text("The test did not reproduce the failure; writing one that does."),
            tool_use("write_file", path="tests/test_unknown.py", content=UNKNOWN),
        ],
        [tool_use("open_pull_request", title="Unknown coupons", body="Second try.")],
    ]
    # When it runs
    summary = run_scripted(runtime, shop, turns, tmp_path / "s.jsonl", signal=SIGNAL)
    inv_id = summary.investigation.investigation_id
    # Then the first verification said the new test passes on base, and the model got that
    # as open_pull_request's error result, with fixloop's words outside the test output
    first, second = _verifications(inv_id)
    assert (first.report.reproduced, first.report.fixed) == (False, True)
    assert "pass on the base commit, so they do not reproduce the failure" in first.report.reason
    assert "(KeyError)" in first.report.reason
    refused = _result_of(inv_id, "open_pull_request")
    assert len(refused) == 1 and refused[0].is_error and refused[0].by_fixloop
    assert refused[0].content.startswith("open_pull_request was not carried out")
    assert "verification 1 of 3" in refused[0].content
    assert '<untrusted source="tool" tool="verification">' in refused[0].content
    # and the second one reproduced the KeyError and verified the fix
    assert second.turn == 4 and second.report.verified
    assert second.report.symptom.matched is True
    assert second.report.symptom.frames == ["app/pricing.py in discount"]
    assert [r.kind for r in second.report.runs] == [
        "suite_on_base",
        "tests_on_base",
        "tests_on_fix",
        "suite_on_fix",
    ]
    # so the pull request is an ordinary one, and the summary says it was verified
    assert summary.investigation.status == "delivered"
    assert summary.investigation.failed_verifications == 1
    pull = _pull(shop, inv_id)
    assert pull.draft is False and "unverified" not in pull.labels
    assert "**Verified.**" in pull.body and "Second try." in pull.body
    assert summary.verification is not None
    assert summary.verification["reproduced"] is True and summary.verification["fixed"] is True
    assert summary.verification["suite"]["base"]["passed"] == 1
    assert summary.verification["suite"]["fix"]["passed"] == 3
    # and the turns are the model's: the verification took no turn of its own
    assert summary.investigation.turns == 4


def test_a_fix_that_breaks_another_test_is_not_fixed_and_opens_as_an_unverified_draft(
    runtime: LocalRuntime, shop: Path, tmp_path: Path, configured: Any
) -> None:
    # Given one try only, and a fix that makes unknown coupons free but breaks known ones
    configured(verify_attempts="1")
    broken = "COUPONS = {}\n\n\ndef discount(code):\n    return COUPONS.get(code.upper(), 0)\n"
    turns = [
        [
            tool_use("write_file", path="tests/test_unknown.py", content=UNKNOWN),
            tool_use("write_file", path="app/pricing.py", content=broken),
        ],
        [tool_use("open_pull_request", title="Unknown coupons", body="Fixed, I think.")],
    ]
    # When it runs
    summary = run_scripted(runtime, shop, turns, tmp_path / "s.jsonl", signal=SIGNAL)
    inv_id = summary.investigation.investigation_id
    # Then the failure was reproduced, but the fix is not: a test that passed fails
    (verification,) = _verifications(inv_id)
    report = verification.report
    assert (report.reproduced, report.fixed) == (True, False)
    assert report.new_failures == ["tests.test_pricing::test_known_coupon"]
    # and, its one try spent, the fix is delivered as a draft labelled unverified
    assert summary.investigation.status == "delivered"
    pull = _pull(shop, inv_id)
    assert pull.draft is True and "unverified" in pull.labels
    assert "**Not verified.**" in pull.body
    assert "Newly failing: tests.test_pricing::test_known_coupon" in pull.body
    assert summary.verification is not None and summary.verification["fixed"] is False
    assert _result_of(inv_id, "open_pull_request") == []  # nothing went back to the model


def test_a_repository_without_tests_is_not_verified_and_refused_when_so_configured(
    runtime: LocalRuntime, repo: Path, tmp_path: Path, configured: Any
) -> None:
    # Given unverified fixes are not to be delivered, and a repository with no test command
    configured(unverified_pull_requests="refuse")
    turns = [
        [tool_use("edit_file", path="app/util.py", old_text="return x", new_text="return x or 0")],
        [tool_use("open_pull_request", title="Default to 0", body="Root cause: none.")],
    ]
    # When the model proposes a fix
    summary = run_scripted(runtime, repo, turns, tmp_path / "s.jsonl")
    inv_id = summary.investigation.investigation_id
    # Then the verification says there is nothing to run the tests with, without asking
    # the model (it cannot add a test command), and no pull request is opened
    (verification,) = _verifications(inv_id)
    assert (verification.report.reproduced, verification.report.fixed) == (False, False)
    assert verification.report.reason.startswith("The repository has no test command")
    assert not verification.report.actionable
    assert summary.investigation.status == "blocked"
    assert summary.investigation.outcome.startswith("not delivered: the fix could not be verified")
    assert LocalGitCodeHost(repo).pulls() == []
    assert summary.verification is not None
    assert summary.verification["reproduced"] is False
    assert "no test command" in summary.verification["reason"]


def test_a_node_repository_is_verified_with_npm_test(runtime: LocalRuntime, tmp_path: Path) -> None:
    # Given a Node service whose tests run with `npm test` (node --test: node only)
    cart = "function total(cart) {\n  return cart.items.reduce((s, i) => s + i.price, 0);\n}\n"
    test = (
        "const test = require('node:test');\nconst assert = require('node:assert');\n"
        "const { total } = require('../src/cart.js');\n\n"
    )
    shop = make_repo(
        tmp_path / "cart",
        {
            "package.json": json.dumps({"name": "cart", "scripts": {"test": "node --test"}}),
            "src/cart.js": cart + "module.exports = { total };\n",
            "test/cart.test.js": test + "test('sums', () => {\n"
            "  assert.strictEqual(total({ items: [{ price: 2 }] }), 2);\n});\n",
        },
    )
    signal = logs_message(
        [
            "TypeError: Cannot read properties of undefined (reading 'reduce')\n"
            "    at total (/var/task/src/cart.js:2:21)\n"
            "    at handler (/var/task/src/index.js:5:10)"
        ]
    )
    turns = [
        [
            tool_use(
                "write_file",
                path="test/empty.test.js",
                content=test + "test('empty', () => {\n  assert.strictEqual(total({}), 0);\n});\n",
            ),
            tool_use(
                "edit_file",
                path="src/cart.js",
                old_text="cart.items.",
                new_text="(cart.items || []).",
            ),
        ],
        [tool_use("open_pull_request", title="An empty cart costs nothing", body="Guarded.")],
    ]
    # When it runs
    summary = run_scripted(runtime, shop, turns, tmp_path / "s.jsonl", signal=signal)
    # Then npm's runner (found from package.json, run confined with the node of the machine)
    # showed the TypeError on the base commit and the suite passing with the fix
    (verification,) = _verifications(summary.investigation.investigation_id)
    report = verification.report
    assert (report.command, report.runner) == ("npm test", "npm")
    assert report.verified, report.reason
    assert report.symptom.seen == ["TypeError"] and report.symptom.matched
    assert [r.kind for r in report.runs] == ["suite_on_base", "tests_on_base", "suite_on_fix"]
    assert summary.verification is not None
    assert summary.verification["suite"]["fix"]["passed"] == 2
    assert summary.investigation.status == "delivered"


@pytest.fixture
def fast_heartbeats(runtime: LocalRuntime) -> Iterator[None]:
    runtime.configure(sandbox_heartbeat_seconds="3")
    yield
    runtime.configure(sandbox_heartbeat_seconds=None)


def test_a_sandbox_lost_during_verification_is_replaced_and_it_is_recorded_once(
    runtime: LocalRuntime, shop: Path, tmp_path: Path, fast_heartbeats: None
) -> None:
    # Given a suite with a slow test, seen running by its sleep (a duration no other
    # process has), and a model that proposes a fix with a reproducing test
    sleep = f"2.{uuid.uuid4().int % 10**6:06d}"
    slow = f"import subprocess\n\n\ndef test_slow():\n    subprocess.run(['sleep', '{sleep}'])\n"
    (shop / "tests/test_slow.py").write_text(slow)
    subprocess.run(["git", "-C", str(shop), "add", "-A"], check=True)
    subprocess.run(
        ["git", "-C", str(shop), "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "s"],
        check=True,
    )
    turns = [
        [tool_use("write_file", path="tests/test_unknown.py", content=UNKNOWN), *_fix()],
        [tool_use("open_pull_request", title="Unknown coupons", body="Fixed.")],
    ]
    inv_id = start_scripted(shop, turns, tmp_path / "s.jsonl", signal=SIGNAL)
    killed: list[int] = []

    def kill_during_verification() -> None:
        deadline = time.monotonic() + 90
        while not processes_with(f"sleep {sleep}") and time.monotonic() < deadline:
            time.sleep(0.05)
        killed.append(runtime.sandboxes.kill(inv_id))

    killer = threading.Thread(target=kill_during_verification)
    killer.start()
    # When the sandbox dies while the verification runs the suite
    runtime.watcher.wait(inv_id, timeout_s=180)
    killer.join()
    # Then a replacement ran the verification again, and it is recorded once, verified
    assert killed == [1]
    assert runtime.sandboxes.launched_for(inv_id) == 2
    (verification,) = _verifications(inv_id)
    assert verification.report.verified, verification.report.reason
    assert stores().investigations.get(inv_id).status == "delivered"
