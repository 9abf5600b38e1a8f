"""Trigger handlers with the payloads AWS documents, on the embedded runtime."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fixloop.domain import SignalReceived
from fixloop.domain.events import signal_position
from fixloop.local.handlers import FUNCTIONS_DIR, LocalLambdaContext, load_module
from fixloop.store import stores
from fixloop.triage import MAX_MESSAGE_CHARS
from tests.runtime import LocalRuntime
from tests.support import alarm_event, awslogs_envelope, logs_message, tool_use, write_script

TRACE = (
    "[ERROR] KeyError: 'u{n}'\nTraceback (most recent call last):\n"
    "  File \"/var/task/svc.py\", line 3, in get\n    return users[uid]\nKeyError: 'u{n}'"
)


@pytest.fixture
def triggers(runtime: LocalRuntime, repo: Path, tmp_path: Path) -> Iterator[dict[str, Any]]:
    script = write_script(tmp_path / "s.jsonl", [[tool_use("finish", summary="looked")]])
    runtime.configure(
        targets=json.dumps({"orders-*": {"repo": str(repo)}, "/aws/lambda/*": {"repo": str(repo)}}),
        model=f"scripted:{script}",
    )
    handlers = {
        name: load_module(FUNCTIONS_DIR / name / "handler.py", f"test_{name}").lambda_handler
        for name in ("signal_trigger", "api_trigger")
    }
    yield handlers
    runtime.configure(targets=None, model=None)


def _call(handler: Any, event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = handler(event, LocalLambdaContext("fixloop-trigger"))
    return result


def _finish(runtime: LocalRuntime, result: dict[str, Any]) -> None:
    for a in result["admissions"]:
        runtime.watcher.wait(a["investigation_id"], timeout_s=60)


def test_an_alarm_into_alarm_starts_an_investigation_and_back_to_ok_is_refused(
    runtime: LocalRuntime, triggers: dict[str, Any]
) -> None:
    started = _call(triggers["signal_trigger"], alarm_event("orders-5xx"))
    assert started["refused"] is None
    assert [a["started"] for a in started["admissions"]] == [True]
    _finish(runtime, started)
    ok = _call(triggers["signal_trigger"], alarm_event("orders-5xx", state="OK"))
    assert ok == {
        "refused": "alarm 'orders-5xx' changed to OK, not ALARM: nothing to do",
        "admissions": [],
    }


def test_a_logs_delivery_becomes_one_investigation_per_problem(
    runtime: LocalRuntime, triggers: dict[str, Any]
) -> None:
    lines = [TRACE.format(n=n) for n in range(4)] + ["ERROR payment declined for user 42"]
    result = _call(triggers["signal_trigger"], awslogs_envelope(logs_message(lines)))
    assert result["refused"] is None
    assert sorted(a["occurrences"] for a in result["admissions"]) == [1, 4]
    _finish(runtime, result)


def test_bad_payloads_are_refused_with_the_reason_and_the_trigger_keeps_working(
    runtime: LocalRuntime, triggers: dict[str, Any]
) -> None:
    # Given a truncated gzip payload, an unknown event, and a source nothing is configured for
    data = base64.b64encode(gzip.compress(json.dumps(logs_message(["x"])).encode())[:20]).decode()
    truncated = _call(triggers["signal_trigger"], {"awslogs": {"data": data}})
    unknown = _call(triggers["signal_trigger"], {"detail-type": "EC2 Instance State-change"})
    unrouted = _call(triggers["signal_trigger"], alarm_event("billing-errors"))
    # Then each is refused, saying why
    assert "not a CloudWatch Logs subscription envelope" in truncated["refused"]
    assert "unrecognised signal" in unknown["refused"]
    assert "no repository is configured for billing-errors" in unrouted["refused"]
    assert truncated["admissions"] == unknown["admissions"] == unrouted["admissions"] == []
    # And a good delivery right after still goes through
    fine = _call(triggers["signal_trigger"], awslogs_envelope(logs_message([TRACE.format(n=9)])))
    assert len(fine["admissions"]) == 1
    _finish(runtime, fine)


def test_a_huge_log_line_is_trimmed_not_dropped(
    runtime: LocalRuntime, triggers: dict[str, Any]
) -> None:
    huge = "[ERROR] ValueError: bad payload " + "x" * 1_000_000
    result = _call(triggers["signal_trigger"], awslogs_envelope(logs_message([huge])))
    (admission,) = result["admissions"]
    stored = stores().events.get(admission["investigation_id"], signal_position())
    assert isinstance(stored, SignalReceived)
    (line,) = stored.signal.log_lines
    assert len(line.message) <= MAX_MESSAGE_CHARS
    assert f"of {len(huge)} characters here" in line.message
    assert line.message.startswith("[ERROR] ValueError: bad payload")
    _finish(runtime, result)


def test_the_rest_trigger_takes_a_signal_body(
    runtime: LocalRuntime, triggers: dict[str, Any]
) -> None:
    def post(body: str) -> dict[str, Any]:
        event = {
            "resource": "/signals",
            "path": "/signals",
            "httpMethod": "POST",
            "headers": {"Content-Type": "application/json"},
            "multiValueHeaders": {},
            "requestContext": {"resourcePath": "/signals", "httpMethod": "POST"},
            "body": body,
            "isBase64Encoded": False,
        }
        return _call(triggers["api_trigger"], event)

    bad = post("{not json")
    assert bad["statusCode"] == 400
    assert json.loads(bad["body"])["refused"] == (
        "the body is not valid JSON (line 1, column 2: "
        "Expecting property name enclosed in double quotes)"
    )
    good = post(json.dumps(alarm_event("orders-latency")))
    assert good["statusCode"] == 202
    _finish(runtime, json.loads(good["body"]))
