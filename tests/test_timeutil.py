"""Windows, date-time normalisation and ISO-8601 durations."""

from __future__ import annotations

import datetime as dt

import pendulum
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tap_ticketlogs.timeutil import (
    iso_duration_to_ms,
    iter_windows,
    normalise,
    parse_datetime,
    to_rfc3339,
)

UTC = dt.timezone.utc


def test_windows_cover_the_range_without_gaps_or_overlap() -> None:
    start = dt.datetime(2026, 1, 1, tzinfo=UTC)
    end = dt.datetime(2026, 1, 3, 5, tzinfo=UTC)
    windows = list(iter_windows(start, end, dt.timedelta(hours=24)))
    assert windows == [
        (start, dt.datetime(2026, 1, 2, tzinfo=UTC)),
        (dt.datetime(2026, 1, 2, tzinfo=UTC), dt.datetime(2026, 1, 3, tzinfo=UTC)),
        (dt.datetime(2026, 1, 3, tzinfo=UTC), end),
    ]


def test_no_window_when_start_is_not_before_end() -> None:
    moment = dt.datetime(2026, 1, 1, tzinfo=UTC)
    assert list(iter_windows(moment, moment, dt.timedelta(hours=1))) == []
    assert list(iter_windows(moment, moment - dt.timedelta(1), dt.timedelta(hours=1))) == []


def test_window_width_must_be_positive() -> None:
    moment = dt.datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="positive"):
        list(iter_windows(moment, moment + dt.timedelta(1), dt.timedelta(0)))


def test_windows_stay_aware_after_arithmetic() -> None:
    start = parse_datetime("2026-01-01T00:00:00Z")
    (first,) = list(iter_windows(start, start + dt.timedelta(hours=1), dt.timedelta(hours=2)))
    assert first[1].tzinfo is not None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2014-04-16T16:27:55-04:00", "2014-04-16T20:27:55Z"),
        ("2022-10-28T12:41:36.6267804+00:00", "2022-10-28T12:41:36.626780Z"),
        ("2023-12-06T17:42:07.7888252+03:00", "2023-12-06T14:42:07.788825Z"),
        ("2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
        ("2026-01-01T08:00:00.500+08:00", "2026-01-01T00:00:00.500000Z"),
    ],
)
def test_normalise_to_rfc3339_utc(text: str, expected: str) -> None:
    assert normalise(text) == expected


def test_seven_digit_fractions_keep_their_order() -> None:
    earlier = normalise("2022-10-28T12:41:36.6267804+00:00")
    later = normalise("2022-10-28T12:41:36.6267815+00:00")
    assert earlier is not None
    assert later is not None
    assert earlier < later


def test_naive_times_are_read_in_the_given_zone() -> None:
    assert normalise("2026-03-01 08:00:00", default_tz="Asia/Shanghai") == "2026-03-01T00:00:00Z"


def test_empty_values_stay_empty() -> None:
    assert normalise(None) is None
    assert normalise("") is None


@pytest.mark.parametrize(
    ("duration", "millis"),
    [
        ("P0Y0M0DT0H0M0.121S", 121),
        ("P0Y0M0DT0H0M0.124S", 124),
        ("P0Y0M0DT0H0M0.000S", 0),
        ("P0Y0M0DT0H1M2.5S", 62_500),
        ("PT0.001S", 1),
        (None, None),
    ],
)
def test_iso_durations_in_milliseconds(duration: str | None, millis: int | None) -> None:
    assert iso_duration_to_ms(duration) == millis


def test_a_non_duration_is_rejected() -> None:
    with pytest.raises(ValueError, match="not an ISO-8601 duration"):
        iso_duration_to_ms("2026-01-01")


def _isoformat_text(value: dt.datetime) -> str:
    """The text the tap has always emitted (what earlier runs wrote to loaders' tables)."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


_OFFSETS = st.builds(
    lambda minutes: dt.timezone(dt.timedelta(minutes=minutes)), st.integers(-1439, 1439)
)
_AWARE = st.datetimes(
    min_value=dt.datetime(1000, 1, 2), max_value=dt.datetime(9998, 12, 30), timezones=_OFFSETS
)


@settings(max_examples=300, deadline=None)
@given(_AWARE, st.sampled_from(["auto", "seconds", "milliseconds", "microseconds"]))
def test_the_fast_formatting_gives_the_text_emitted_so_far(
    value: dt.datetime, timespec: str
) -> None:
    # normalise and to_rfc3339 format in C (msgspec); the text must not change, or a loader
    # would see a value of an earlier run differ (and keys built from it would move).
    assert to_rfc3339(value) == _isoformat_text(value)
    text = value.isoformat(timespec=timespec)
    assert normalise(text) == _isoformat_text(dt.datetime.fromisoformat(text))
    assert normalise(text.replace("+00:00", "Z")) == normalise(text)


def test_a_pendulum_datetime_is_formatted_like_a_plain_one() -> None:
    value = pendulum.datetime(2026, 3, 1, 8, 30, 0, 250, tz="Asia/Shanghai")
    assert to_rfc3339(value) == "2026-03-01T00:30:00.000250Z"
