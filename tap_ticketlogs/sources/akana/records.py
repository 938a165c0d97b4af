"""Reading Akana txlogs bodies and shaping transactions into records."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tap_ticketlogs.streams.records import carry_partition, log_key
from tap_ticketlogs.timeutil import iso_duration_to_ms, normalise, parse_datetime

# The vendor page names the array ``TransactionInfo`` in its sample and ``TransactionsInfo``
# in its field table (docs/sources.md): both are read.
ARRAY_KEYS = ("TransactionsInfo", "TransactionInfo")
# ISO-8601 durations kept as sent, and emitted again as whole milliseconds.
DURATION_FIELDS = {"ResponseTime": "response_time_ms", "APIResponseTime": "api_response_time_ms"}
INTEGER_FIELDS = ("ResponseStatusCode", "RequestMessageSize", "ResponseMessageSize")
REPLICATION_KEY = "RequestDateTime"
# The TimeZone the tap sends with every request, so it never depends on the server's
# default. GMT is the documented default and example value, and has no daylight saving.
REQUEST_TIME_ZONE = "GMT"
# StartDate/EndDate as a local date-time (no offset) in REQUEST_TIME_ZONE, to the second:
# read the same way whether the platform applies TimeZone or its GMT default, and no
# offset that could contradict TimeZone.
REQUEST_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"


def request_date(value: str | dt.datetime) -> str:
    """A window bound as sent in ``StartDate``/``EndDate``: GMT, whole seconds.

    Truncating to the second is monotonic, so consecutive windows still share one bound.
    """
    return parse_datetime(value).strftime(REQUEST_DATE_FORMAT)


def request_instant(value: str | dt.datetime) -> dt.datetime:
    """The instant a bound sent by :func:`request_date` stands for."""
    return parse_datetime(value).replace(microsecond=0)


def array_key(body: dict[str, Any]) -> str | None:
    """Which of the two documented names carries the transactions, if any."""
    present = [key for key in ARRAY_KEYS if body.get(key) is not None]
    return present[0] if present else None


def body_problem(body: Any) -> str | None:  # noqa: ANN401 - any JSON value
    """What is wrong with a txlogs body's shape, or None."""
    if not isinstance(body, dict):
        return f"body is a JSON {type(body).__name__}, not an object"
    present = [key for key in ARRAY_KEYS if body.get(key) is not None]
    if len(present) > 1:
        return f"body carries both {ARRAY_KEYS[0]} and {ARRAY_KEYS[1]}"
    if not present:
        # ``{}`` or a null array is an empty page. An object without either name is not a
        # txlogs answer: the stream retries it first (``answer_keys``, http_errors.py).
        return None
    return _items_problem(present[0], body[present[0]])


def _items_problem(key: str, items: Any) -> str | None:  # noqa: ANN401 - any JSON value
    if isinstance(items, dict):
        return None  # one transaction, serialised as an object instead of a list
    if not isinstance(items, list):
        return f"'{key}' is a JSON {type(items).__name__}, not a list"
    # A list, not next(..., None): a null entry must be reported too.
    wrong = [item for item in items if not isinstance(item, dict)][:1]
    if wrong:
        return f"'{key}' holds a JSON {_json_type(wrong[0])}, not an object"
    return None


def _json_type(value: Any) -> str:  # noqa: ANN401 - any JSON value
    return "null" if value is None else type(value).__name__


def transactions(body: Any) -> list[dict[str, Any]]:  # noqa: ANN401 - any JSON value
    """The transactions of a body that passed :func:`body_problem`.

    A single transaction serialised as an object (as XML-to-JSON mappings do for one-element
    lists) is read as a list of one, rather than lost.
    """
    if not isinstance(body, dict):
        return []
    key = array_key(body)
    if key is None:
        return []
    items = body[key]
    return [items] if isinstance(items, dict) else list(items)


def as_integer(value: Any) -> Any:  # noqa: ANN401 - any JSON value
    """Integers sent as strings (``"200"``) become integers; anything else is kept as is."""
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return int(text)
    return value


def shape_transaction(row: dict[str, Any], app_version_id: str) -> dict[str, Any]:
    """The record emitted for one transaction, with the tap's added fields.

    ``log_key`` is computed from the API's fields with ``RequestDateTime`` already in UTC, so
    it does not depend on the time zone a request asked for.
    """
    if REPLICATION_KEY in row:
        row[REPLICATION_KEY] = normalise(row[REPLICATION_KEY])
    for field in INTEGER_FIELDS:
        if field in row:
            row[field] = as_integer(row[field])
    row["log_key"] = log_key(row, app_version_id)
    for field, derived in DURATION_FIELDS.items():
        row[derived] = duration_ms(row.get(field))
    carry_partition(row, "AppVersionID", app_version_id)
    return row


def duration_ms(value: Any) -> int | None:  # noqa: ANN401 - any JSON value
    """Milliseconds of an ISO-8601 duration; None when absent or not a duration.

    An unreadable duration does not stop the run: the API's own field is kept unchanged.
    """
    if not isinstance(value, str):
        return None
    try:
        return iso_duration_to_ms(value)
    except ValueError:
        return None
