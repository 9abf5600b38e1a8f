"""fixloop.local.patches.chaos: FIXLOOP_CHAOS parsed strictly, off by default, seeded draws."""

from __future__ import annotations

import pytest

from fixloop.errors import ConfigError
from fixloop.local.patches import chaos as chaos_state
from fixloop.local.patches.chaos import Chaos, parse
from tests.support import chaos


def test_off_by_default_and_every_fault_named() -> None:
    assert not Chaos().on
    assert not parse("", seed=3, time_scale=0.5).on
    asked = parse(
        "dynamodb_throttle=0.1, dynamodb_throttle_burst=0.05,transaction_conflict=1,"
        "lambda_timeouts,sandbox_start=90,heartbeat_clock,missing_path_runtime",
        seed=7,
        time_scale=0.01,
    )
    assert asked == Chaos(0.1, 0.05, 1.0, True, 90.0, True, True, seed=7, time_scale=0.01)
    assert asked.spec() == (
        "dynamodb_throttle=0.1,dynamodb_throttle_burst=0.05,transaction_conflict=1,"
        "lambda_timeouts,sandbox_start=90,heartbeat_clock,missing_path_runtime"
        " (seed 7, time scale 0.01)"
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("dynamo_throttle=0.1", "unknown fault 'dynamo_throttle'"),
        ("lambda_timeouts=1", "takes no value"),
        ("dynamodb_throttle=often", "needs a number"),
        ("dynamodb_throttle=1.5", "a rate from 0 to 1"),
        ("sandbox_start=-1", "cannot be negative"),
    ],
)
def test_a_bad_spec_is_a_config_error(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse(spec)


def test_draws_are_seeded_per_fault() -> None:
    def draws(seed: int) -> list[bool]:
        with chaos("dynamodb_throttle=0.5", seed=seed):
            return [chaos_state.chance("test_fault", 0.5) for _ in range(32)]

    # (the streams restart when the settings change)
    first, other, again = draws(1), draws(2), draws(1)
    assert first == again
    assert first != other
    with chaos("", seed=1):
        assert not chaos_state.chance("test_fault", 0.0)


def test_an_observer_is_spared_and_told_what_was_asked_and_what_fired() -> None:
    said: list[str] = []
    with chaos("dynamodb_throttle=0.5", seed=4, time_scale=0.1):
        with chaos_state.observed(said.append):
            assert chaos_state.spared()
            chaos_state.record("dynamodb_throttle")
        assert not chaos_state.spared()
    assert said == [
        "chaos      dynamodb_throttle=0.5 (seed 4, time scale 0.1)",
        "chaos      fired: dynamodb_throttle 1",
    ]
    # and without chaos, nothing is said
    with chaos(""), chaos_state.observed(said.append):
        pass
    assert len(said) == 2
