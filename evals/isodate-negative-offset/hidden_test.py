"""Hidden check: negative UTC offsets with minutes (-03:30, -09:30) shift by the whole offset;
positive ones and whole-hour ones are unchanged."""

import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import isodate
import pytest


def test_the_checkout_is_under_test() -> None:
    assert Path(isodate.__file__).resolve().is_relative_to(Path(os.environ["REPO_ROOT"]).resolve())


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        ("2026-11-22T07:00:00-03:30", timedelta(hours=-3, minutes=-30)),
        ("2026-11-22T07:00:00-0930", timedelta(hours=-9, minutes=-30)),
        ("2026-11-22T07:00:00-00:30", timedelta(minutes=-30)),
        ("2026-11-22T07:00:00+05:30", timedelta(hours=5, minutes=30)),
        ("2026-11-22T07:00:00+05:45", timedelta(hours=5, minutes=45)),
        ("2026-11-22T07:00:00-05:00", timedelta(hours=-5)),
        ("2026-11-22T07:00:00Z", timedelta(0)),
    ],
)
def test_utc_offsets(text: str, offset: timedelta) -> None:
    parsed = isodate.parse_datetime(text)
    assert parsed.utcoffset() == offset
    assert parsed == datetime(2026, 11, 22, 7, tzinfo=timezone(offset))


def test_newfoundland_booking_in_utc() -> None:
    starts = isodate.parse_datetime("2026-11-22T07:00:00-03:30")
    assert starts.astimezone(UTC) == datetime(2026, 11, 22, 10, 30, tzinfo=UTC)


def test_parse_tzinfo_directly() -> None:
    assert isodate.parse_tzinfo("-03:30").utcoffset(None) == timedelta(hours=-3, minutes=-30)
    assert isodate.parse_tzinfo("+03:30").utcoffset(None) == timedelta(hours=3, minutes=30)
