"""Socialboards date-times: up to 7 fractional digits and an offset, emitted in UTC.

The API writes .NET ``DateTimeOffset`` values (``2022-10-28T12:41:36.6267804+02:00``). The
shared parser keeps microseconds only, which would turn two entries 100 ns apart into a tie.
Here the UTC instant is computed at microsecond precision and the 7th digit is carried over
unchanged (an offset is whole minutes, so it never touches sub-microsecond digits). Every
value gets exactly 7 fractional digits, so the emitted strings sort as the instants do.
"""

from __future__ import annotations

import datetime as dt
import re

from tap_ticketlogs.timeutil import parse_datetime

_FRACTION = re.compile(r"\.(\d+)")
FRACTION_DIGITS = 7


def split_fraction(value: str) -> tuple[str, str]:
    """The value with its fraction cut to microseconds, and the 7th fractional digit."""
    found = _FRACTION.search(value)
    if not found:
        return value, "0"
    digits = found.group(1).ljust(FRACTION_DIGITS, "0")
    head = value[: found.start()] + "." + digits[:6] + value[found.end() :]
    return head, digits[6]


def parse_api_time(value: str) -> dt.datetime:
    """The instant of an API date-time in UTC, at microsecond precision."""
    return parse_datetime(split_fraction(value)[0])


def normalise_api_time(value: str | None) -> str | None:
    """An API date-time as RFC 3339 UTC with 7 fractional digits; empty values stay None."""
    if value is None or value == "":
        return None
    head, seventh = split_fraction(value)
    utc = parse_datetime(head)
    return f"{utc.strftime('%Y-%m-%dT%H:%M:%S')}.{utc.microsecond:06d}{seventh}Z"
