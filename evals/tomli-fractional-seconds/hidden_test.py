"""Hidden check: date-times with more than six fractional digits parse (the extra digits are
dropped, as TOML 1.0 allows), and the usual forms still do."""

import os
from datetime import UTC, datetime, time, timedelta, timezone
from pathlib import Path

import pytest
import tomli


def test_the_checkout_is_under_test() -> None:
    assert Path(tomli.__file__).resolve().is_relative_to(Path(os.environ["REPO_ROOT"]).resolve())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-22T09:00:00.0000000Z", datetime(2026, 11, 22, 9, tzinfo=UTC)),
        ("2026-11-22T09:00:00.1234567Z", datetime(2026, 11, 22, 9, 0, 0, 123456, UTC)),
        (
            "2026-11-22T09:00:00.999999999+01:00",
            datetime(2026, 11, 22, 9, 0, 0, 999999, timezone(timedelta(hours=1))),
        ),
        ("2026-11-22 09:00:00.5", datetime(2026, 11, 22, 9, 0, 0, 500000)),
        ("2026-11-22T09:00:00Z", datetime(2026, 11, 22, 9, tzinfo=UTC)),
    ],
)
def test_offset_and_local_date_times(text: str, expected: datetime) -> None:
    assert tomli.loads(f"at = {text}")["at"] == expected


def test_local_time_with_nanoseconds() -> None:
    assert tomli.loads("at = 07:32:00.123456789")["at"] == time(7, 32, 0, 123456)


def test_invalid_date_times_are_still_refused() -> None:
    for text in ("2026-11-22T25:00:00Z", "2026-13-01T00:00:00Z", "2026-11-22T09:00:00.Z"):
        with pytest.raises(tomli.TOMLDecodeError):
            tomli.loads(f"at = {text}")
