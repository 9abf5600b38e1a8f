"""Intake on the embedded runtime: one investigation per problem, duplicates counted."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fixloop.domain import UserMessage, parse_signal
from fixloop.intake.admission import Target, admit, split_signal
from fixloop.store import stores
from tests.integration.scenario import log_of
from tests.runtime import LocalRuntime
from tests.support import alarm_event, head, logs_message, tool_use, write_script

PY_TRACE = (
    "[ERROR]\t2026-11-22T09:20:0{n}.000Z\treq-{n}\tcheckout failed\n"
    "Traceback (most recent call last):\n"
    '  File "/var/task/orders/app.py", line 16, in handle_checkout\n'
    '    total = order_total(body["items"], body.get("coupon"))\n'
    '  File "/var/task/orders/pricing.py", line 24, in order_total\n'
    "    percent = COUPONS[coupon.strip().upper()]\n"
    "KeyError: 'CODE{n}'"
)
NODE_TRACE = (
    "TypeError: Cannot read properties of undefined (reading 'id')\n"
    "    at getUser (/var/task/users.js:12:{n})\n"
    "    at handler (/var/task/index.js:5:3)"
)


def _long_script(tmp_path: Path, turns: int = 200) -> Path:
    """A model that keeps the investigation busy while the test does its work."""
    return write_script(
        tmp_path / "busy.jsonl",
        [[tool_use("get_signal")] for _ in range(turns)] + [[tool_use("finish", summary="x")]],
    )


def _stop(investigation_id: str, runtime: LocalRuntime) -> None:
    stores().investigations.transition(investigation_id, ("running",), "parked", "test over")
    runtime.watcher.wait(investigation_id, timeout_s=60)


def test_100_concurrent_duplicates_of_an_alarm_start_one_investigation(
    runtime: LocalRuntime, repo: Path, tmp_path: Path
) -> None:
    # Given one alarm delivered 100 times at once
    target = Target(repo=str(repo), commit=head(repo), model=f"scripted:{_long_script(tmp_path)}")
    signal = parse_signal(alarm_event("payments-5xx"))
    # When they are admitted concurrently (20 at a time, as concurrent Lambda invocations)
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = [
            a for batch in pool.map(lambda _: admit(signal, target), range(100)) for a in batch
        ]
    # Then exactly one investigation started and every delivery is counted on it
    started = [a for a in results if a.started]
    assert len(results) == 100
    assert len(started) == 1
    assert {a.investigation_id for a in results} == {started[0].investigation_id}
    record = stores().fingerprints.get(started[0].fingerprint)
    assert record is not None and record.occurrences == 100
    assert len(runtime.watcher.executions(started[0].investigation_id)) == 1
    _stop(started[0].investigation_id, runtime)


def test_one_delivery_with_two_problems_opens_two_investigations_and_repeats_are_told(
    runtime: LocalRuntime, repo: Path, tmp_path: Path
) -> None:
    # Given a Logs delivery mixing one Python error (3 times, different codes) and one Node error
    lines = [PY_TRACE.format(n=n) for n in range(3)] + [NODE_TRACE.format(n=n) for n in range(2)]
    signal = parse_signal(logs_message(lines, group="/aws/lambda/checkout"))
    assert len(split_signal(signal)) == 2
    runtime.configure(repeat_notice_seconds="0")
    try:
        target = Target(
            repo=str(repo), commit=head(repo), model=f"scripted:{_long_script(tmp_path)}"
        )
        # When it is admitted, and then the Python error comes again
        first = admit(signal, target)
        again = admit(
            parse_signal(logs_message([PY_TRACE.format(n=7)], group="/aws/lambda/checkout")), target
        )
    finally:
        runtime.configure(repeat_notice_seconds=None)
    # Then two investigations started, titled by their errors, and the repeat was counted on
    # the Python one and told to it
    assert [a.started for a in first] == [True, True]
    by_type = {a.title.split(":")[0]: a for a in first}
    assert set(by_type) == {"KeyError", "TypeError"}
    assert by_type["KeyError"].occurrences == 3
    (repeat,) = again
    assert not repeat.started
    assert repeat.investigation_id == by_type["KeyError"].investigation_id
    assert repeat.occurrences == 4
    # (in its inbox until the next turn boundary, or already in its log)
    messages = [
        e.event.text for e in log_of(repeat.investigation_id) if isinstance(e.event, UserMessage)
    ] + [m.text for m in stores().inbox.pending(repeat.investigation_id)]
    assert len(messages) == 1
    assert messages[0].startswith("The problem recurred: 4 occurrences so far")
    for a in first:
        _stop(a.investigation_id, runtime)


def test_a_problem_that_comes_back_after_its_fix_merged_gets_a_new_investigation(
    runtime: LocalRuntime, repo: Path, tmp_path: Path
) -> None:
    target = Target(repo=str(repo), commit=head(repo), model=f"scripted:{_long_script(tmp_path)}")
    signal = parse_signal(alarm_event("orders-latency"))
    (first,) = admit(signal, target)
    stores().investigations.transition(first.investigation_id, ("running",), "fixed", "merged")
    runtime.watcher.wait(first.investigation_id, timeout_s=60)
    (second,) = admit(signal, target)
    assert second.started
    assert second.investigation_id != first.investigation_id
    _stop(second.investigation_id, runtime)
