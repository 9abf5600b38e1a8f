from __future__ import annotations

import json
from pathlib import Path

import pytest

from fixloop.domain import load_signal, parse_signal
from fixloop.errors import SignalError
from tests.support import DEMO, alarm_event, awslogs_envelope, logs_message

TRACE = (
    "Traceback (most recent call last):\n"
    '  File "/var/task/app.py", line 3, in handle\n'
    "KeyError: 'id'"
)


def test_alarm_state_change_event_becomes_an_alarm_signal() -> None:
    # Given an EventBridge alarm state change into ALARM
    # When it is parsed
    signal = parse_signal(alarm_event("orders-5xx"))
    # Then the alarm, its reason and metric are kept
    assert signal.kind == "alarm"
    assert signal.source == "orders-5xx"
    assert signal.region == "us-east-1"
    assert "Threshold Crossed" in signal.details["reason"]
    assert "5XXError" in signal.details["metrics"]


def test_alarm_back_to_ok_is_refused_with_a_reason() -> None:
    with pytest.raises(SignalError, match="changed to OK, not ALARM"):
        parse_signal(alarm_event(state="OK"))


def test_decoded_logs_message_keeps_multiline_stack_traces() -> None:
    signal = parse_signal(logs_message(["[ERROR] boom\n" + TRACE]))
    assert signal.kind == "log_errors"
    assert signal.source == "/aws/lambda/orders"
    assert signal.log_lines[0].message.endswith("KeyError: 'id'")
    assert "KeyError: 'id'" in signal.title


def test_awslogs_envelope_is_decoded() -> None:
    message = logs_message(["[ERROR] one\n" + TRACE, "[ERROR] two\n" + TRACE])
    signal = parse_signal(awslogs_envelope(message))
    assert len(signal.log_lines) == 2
    assert signal.details["events"] == 2


def test_corrupt_awslogs_data_is_a_clear_error() -> None:
    with pytest.raises(SignalError, match="subscription envelope"):
        parse_signal({"awslogs": {"data": "not-base64-gzip"}})


def test_control_message_is_refused() -> None:
    msg = logs_message(["CWL CONTROL MESSAGE: Checking health of destination"])
    msg["messageType"] = "CONTROL_MESSAGE"
    with pytest.raises(SignalError, match="CONTROL_MESSAGE"):
        parse_signal(msg)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([1, 2], "JSON object"),
        ({"hello": "world"}, "unrecognised signal"),
        ({"detail-type": "CloudWatch Alarm State Change", "detail": {}}, "invalid alarm"),
        ({"logEvents": [], "messageType": "DATA_MESSAGE"}, "subscription message"),
    ],
)
def test_malformed_payloads_name_the_problem(payload: object, message: str) -> None:
    with pytest.raises(SignalError, match=message):
        parse_signal(payload)


def test_signal_file_with_invalid_json_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "sig.json"
    path.write_text('{\n  "detail-type": \n')
    with pytest.raises(SignalError, match=r"sig\.json is not valid JSON \(line 3"):
        load_signal(path)


def test_missing_signal_file(tmp_path: Path) -> None:
    with pytest.raises(SignalError, match="cannot read signal file"):
        load_signal(tmp_path / "nope.json")


def test_demo_signal_parses() -> None:
    signal = load_signal(DEMO / "fixloop" / "signal.json")
    assert len(signal.log_lines) == 4
    assert json.loads(signal.model_dump_json())["kind"] == "log_errors"


def test_the_rendered_signal_gives_first_and_latest_occurrence_and_count() -> None:
    signal = parse_signal(logs_message(["[ERROR] a", "[ERROR] b", "[ERROR] c"]))
    text = signal.render()
    assert "Occurrences: 3 in this signal, first at 2026-11-23T12:00:00+00:00, latest at " in text
    assert "2026-11-23T12:00:00.002000+00:00" in text
