"""Hidden check: a date-time without an offset is read as UTC by default (as documented), and
an explicit default_timezone (None included) is still honoured."""

import datetime
import os
from pathlib import Path

import iso8601


def test_the_checkout_is_under_test() -> None:
    assert Path(iso8601.__file__).resolve().is_relative_to(Path(os.environ["REPO_ROOT"]).resolve())


def test_no_offset_means_utc_by_default() -> None:
    parsed = iso8601.parse_date("2026-12-01T00:00:00")
    assert parsed.tzinfo is not None
    assert parsed.utcoffset() == datetime.timedelta(0)
    assert parsed < datetime.datetime(2026, 12, 2, tzinfo=datetime.UTC)


def test_date_only_is_utc_by_default() -> None:
    assert iso8601.parse_date("2026-12-01").utcoffset() == datetime.timedelta(0)


def test_explicit_defaults_are_honoured() -> None:
    assert iso8601.parse_date("2026-12-01T00:00:00", default_timezone=None).tzinfo is None
    plus_two = datetime.timezone(datetime.timedelta(hours=2))
    parsed = iso8601.parse_date("2026-12-01T00:00:00", default_timezone=plus_two)
    assert parsed.utcoffset() == datetime.timedelta(hours=2)


def test_explicit_offsets_win() -> None:
    parsed = iso8601.parse_date("2026-12-01T00:00:00-05:00")
    assert parsed.utcoffset() == datetime.timedelta(hours=-5)
