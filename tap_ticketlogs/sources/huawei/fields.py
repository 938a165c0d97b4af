"""Huawei's value formats: ``X-Time-Zone`` labels, local date-times, epoch milliseconds."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from tap_ticketlogs.timeutil import normalise, to_rfc3339

# "GMT+8" is the documented form; "GMT", "GMT-5", "GMT+05:30" and "GMT+0530" are read too.
_ZONE_LABEL = re.compile(r"^GMT(?:([+-])(\d{1,2})(?::?(\d{2}))?)?$")
_MAX_OFFSET_HOURS = 14
# Epoch milliseconds: 12 or 13 digits cover 1973..2286; shorter digit strings are not times.
_EPOCH_MS = re.compile(r"^\d{12,13}$")


def zone_of(label: str) -> dt.timezone:
    """The fixed UTC offset an ``X-Time-Zone`` label such as ``GMT+8`` names."""
    found = _ZONE_LABEL.match(label.strip())
    if found is None:
        msg = f"not a GMT±H time zone label: {label!r}"
        raise ValueError(msg)
    sign, hours, minutes = found.groups()
    if sign is None:
        return dt.timezone.utc
    offset = dt.timedelta(hours=int(hours), minutes=int(minutes or 0))
    if offset > dt.timedelta(hours=_MAX_OFFSET_HOURS):
        msg = f"time zone offset out of range: {label!r}"
        raise ValueError(msg)
    return dt.timezone(-offset if sign == "-" else offset)


def local_datetime(value: object, zone: dt.tzinfo) -> str | None:
    """A date-time the API wrote in ``zone`` (unless it carries an offset), as RFC 3339 UTC.

    Raises ValueError for anything that is not a date-time; empty values give None.
    """
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        msg = f"not a date-time string: {value!r}"
        raise ValueError(msg)
    return normalise(value, default_tz=zone)


def epoch_ms_or_datetime(value: object, zone: dt.tzinfo) -> str | None:
    """``timestamp_operate_time``: epoch milliseconds (number or digits), else a date-time."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        msg = f"not a timestamp: {value!r}"
        raise ValueError(msg)
    if isinstance(value, int | Decimal):
        value = str(value)
    if isinstance(value, str) and value.strip().isdigit():
        # Digits only: epoch milliseconds, never a compact date such as 20260105.
        if not _EPOCH_MS.match(value.strip()):
            msg = f"not epoch milliseconds: {value!r}"
            raise ValueError(msg)
        millis = int(value)
        instant = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(
            milliseconds=millis
        )
        return to_rfc3339(instant)
    return local_datetime(value, zone)


def as_integer(value: object) -> int | None:
    """An integer field the API may send as a number or a string of digits."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        msg = f"not an integer: {value!r}"
        raise ValueError(msg)
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
        return int(value)
    msg = f"not an integer: {value!r}"
    raise ValueError(msg)
