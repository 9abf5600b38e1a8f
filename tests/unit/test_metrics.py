"""fixloop's EMF metrics: what a handler prints for CloudWatch at the end of an invocation."""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest

from fixloop.errors import ModelThrottled, ModelUnavailable
from fixloop.local.handlers import FUNCTIONS_DIR, LocalLambdaContext, load_module
from fixloop.metrics import (
    INPUT_TOKENS,
    MODEL_ERRORS,
    MODEL_THROTTLES,
    MODEL_TURNS,
    NAMESPACE,
    OUTPUT_TOKENS,
    emits_metrics,
    metrics,
    record_usage,
)


@pytest.fixture(autouse=True)
def metrics_enabled(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.delenv("POWERTOOLS_DEV", raising=False)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "fixloop")
    metrics.clear_metrics()
    yield
    metrics.clear_metrics()


def emf_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if '"_aws"' in line]


def values(line: dict[str, Any]) -> dict[str, Any]:
    (directive,) = line["_aws"]["CloudWatchMetrics"]
    # (EMF values are lists of the samples of the invocation)
    return {m["Name"]: sum(line[m["Name"]]) for m in directive["Metrics"]}


def test_a_model_turn_prints_one_emf_line_with_the_turn_and_its_tokens(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a handler that records a model call's usage (cache reads count as input)
    @emits_metrics
    def handler() -> str:
        record_usage(
            {"input_tokens": 100, "cache_read_input_tokens": 50, "output_tokens": 7},
        )
        return "ok"

    # When it runs
    assert handler() == "ok"

    # Then one EMF line in namespace fixloop, dimension service, carries the figures
    (line,) = emf_lines(capsys.readouterr().out)
    (directive,) = line["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == NAMESPACE
    assert directive["Dimensions"] == [["service"]]
    assert line["service"] == "fixloop"
    assert values(line) == {MODEL_TURNS: 1.0, INPUT_TOKENS: 150.0, OUTPUT_TOKENS: 7.0}


def test_no_metric_prints_nothing_and_warns_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    # Given a handler that records nothing
    @emits_metrics
    def handler() -> None:
        return None

    # When it runs / Then nothing is printed and no warning raised
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        handler()
    assert emf_lines(capsys.readouterr().out) == []


def test_disabled_metrics_are_dropped(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given metrics disabled (as the embedded runtime does)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")

    @emits_metrics
    def handler() -> None:
        record_usage({"input_tokens": 1})

    # When the handler runs twice / Then nothing is printed and nothing accumulates
    handler()
    handler()
    assert emf_lines(capsys.readouterr().out) == []
    assert not metrics.metric_set


@pytest.mark.parametrize(
    ("error", "metric"),
    [
        (ModelThrottled("429"), MODEL_THROTTLES),
        (ModelUnavailable("503"), MODEL_ERRORS),
    ],
)
def test_model_turn_handler_counts_throttles_and_errors_and_still_fails(
    error: Exception,
    metric: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the real Model Turn handler whose model call fails
    module = load_module(FUNCTIONS_DIR / "model_turn" / "handler.py", "metrics_model_turn")

    def failing(state: object, *, attempt: int | None = None) -> object:
        raise error

    monkeypatch.setattr(module, "model_turn", failing)

    # When it is invoked / Then the error still reaches Step Functions (its Retry matches the
    # class name) and the failure is counted
    with pytest.raises(type(error)):
        module.lambda_handler(
            {"state": {"investigation_id": "inv-1"}, "attempt": 0}, LocalLambdaContext("model_turn")
        )
    (line,) = emf_lines(capsys.readouterr().out)
    assert values(line) == {metric: 1.0}
