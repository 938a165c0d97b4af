"""Date-time parsing and formatting: everything the tap emits is RFC 3339 in UTC."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import msgspec

UTC = dt.timezone.utc
_from_iso = dt.datetime.fromisoformat
# RFC 3339 text of an aware datetime, in C: for one in UTC the very text of
# ``replace(tzinfo=None).isoformat() + "Z"`` (microseconds only when there are some), at a
# tenth of its cost (tests/test_timeutil.py compares the two).
_rfc3339_text = msgspec.to_builtins
# More than six fractional digits (Socialboards sends seven) are cut to microseconds:
# the order of entries is kept, only sub-microsecond ties can appear.
_LONG_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_datetime(value: str | dt.datetime, *, default_tz: str | dt.tzinfo = "UTC") -> dt.datetime:
    """Parse an ISO-8601 string (or datetime) into an aware datetime in UTC.

    A value without an offset is read in ``default_tz``. The standard library's parser
    handles the usual forms fast; pendulum takes the rest (week dates, odd separators).
    """
    if isinstance(value, dt.datetime):
        parsed = value
    else:
        text = _LONG_FRACTION.sub(r"\1", value.strip())
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            import pendulum  # noqa: PLC0415 - the rare forms only; its import costs start-up

            parsed = pendulum.parse(text, tz=None, strict=False)  # type: ignore[assignment]
            if not isinstance(parsed, dt.datetime):
                msg = f"not a date-time: {value!r}"
                raise ValueError(msg) from None
    if parsed.tzinfo is None:
        import pendulum  # noqa: PLC0415 - see above

        tz = pendulum.timezone(default_tz) if isinstance(default_tz, str) else default_tz
        parsed = parsed.replace(tzinfo=tz)
    utc = parsed.astimezone(UTC)
    # A plain datetime: pendulum's own arithmetic drops a stdlib tzinfo (naive results).
    return dt.datetime(
        utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, utc.microsecond, tzinfo=UTC
    )


def to_rfc3339(value: dt.datetime) -> str:
    """Format an aware datetime as RFC 3339 in UTC with a ``Z`` suffix."""
    utc = value.astimezone(UTC)
    if type(utc) is dt.datetime:
        text: str = _rfc3339_text(utc)
        return text
    # A subclass (pendulum's): isoformat adds the microseconds only when there are some, as
    # RFC 3339 allows.
    return utc.replace(tzinfo=None).isoformat() + "Z"


def normalise(value: str | None, *, default_tz: str | dt.tzinfo = "UTC") -> str | None:
    """Return a vendor date-time string as RFC 3339 UTC; empty values stay None."""
    if value is None or value == "":
        return None
    # Fast path (once per record on the bulk path): a string with an offset, as most
    # vendors send, read by the standard parser alone; the same result as the full path.
    try:
        parsed = _from_iso(value)
    except (TypeError, ValueError):
        parsed = None
    if parsed is not None and parsed.tzinfo is not None:
        text: str = _rfc3339_text(parsed.astimezone(UTC))
        return text
    return to_rfc3339(parse_datetime(value, default_tz=default_tz))


def utc_now() -> dt.datetime:
    """The current time, aware, in UTC."""
    return dt.datetime.now(UTC)


def iter_windows(
    start: dt.datetime, end: dt.datetime, width: dt.timedelta
) -> Iterator[tuple[dt.datetime, dt.datetime]]:
    """Yield consecutive half-open windows ``[a, b)`` of ``width`` covering ``[start, end)``.

    The last window is cut at ``end``; nothing is yielded when ``start >= end``.
    """
    if width <= dt.timedelta(0):
        msg = "window width must be positive"
        raise ValueError(msg)
    cursor = start
    while cursor < end:
        upper = min(cursor + width, end)
        yield cursor, upper
        cursor = upper


def iso_duration_to_ms(value: str | None) -> int | None:
    """Convert an ISO-8601 duration such as ``P0Y0M0DT0H0M0.121S`` to whole milliseconds.

    Years and months have no fixed length; pendulum counts them as 365 and 30 days, which is
    irrelevant for response times (always zero there) and documented in the README.
    """
    if value is None or value == "":
        return None
    import pendulum  # noqa: PLC0415 - see parse_datetime

    duration = pendulum.parse(value)
    if not isinstance(duration, pendulum.Duration):
        msg = f"not an ISO-8601 duration: {value!r}"
        raise ValueError(msg)
    return round(duration.total_seconds() * 1000)


def rfc3339(instant: dt.datetime) -> str:
    """``time_extracted`` as the SDK writes it (``isoformat``), computed once per page."""
    return instant.isoformat(sep="T")
