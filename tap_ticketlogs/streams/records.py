"""Helpers that shape the records every stream emits."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import msgspec
import simplejson

_SORTED = msgspec.json.Encoder(order="sorted", decimal_format="number")
_encode_sorted = _SORTED.encode
_sha256 = hashlib.sha256
# Bytes simplejson writes otherwise than msgspec: a backslash (an escape) and DEL. Looked
# for as integers, which `in` finds with memchr: five times faster than a one-byte needle.
_BACKSLASH, _DEL = ord("\\"), 0x7F


def canonical_json(value: Any) -> str:  # noqa: ANN401 - any parsed JSON value
    """Serialise a JSON value the same way every time (sorted keys, no spaces).

    The text is simplejson's (``ensure_ascii``, ``sort_keys``), which the keys of earlier
    runs were computed from. For what is passed here (entries as parsed from a body, a
    text or integer partition id) msgspec gives the very same text when it is ASCII
    without escapes and without DEL (which simplejson escapes and msgspec does not),
    several times faster; anything else takes simplejson.
    """
    return _canonical_bytes(value).decode()


def _canonical_bytes(value: Any) -> bytes:  # noqa: ANN401 - any parsed JSON value
    try:
        data = _encode_sorted(value)
    except (TypeError, OverflowError):
        data = b"\\"
    if data.isascii() and _BACKSLASH not in data and _DEL not in data:
        return data
    return _simplejson_bytes(value)


def _simplejson_bytes(value: Any) -> bytes:  # noqa: ANN401 - any parsed JSON value
    text: str = simplejson.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return text.encode()


def carry_partition(record: dict[str, Any], field: str, partition_id: object) -> None:
    """Name the record's partition in ``field``, the API's own name for it, unless the
    API already sent a value there.

    One spelling per fact: a second name for the same id (``mobile_app_id`` next to the
    API's ``mobileAppId``) becomes one column twice in a loader that normalises names
    to snake_case, which then stops. The API's value, when there is one, is kept as sent.
    """
    if record.get(field) in (None, ""):
        record[field] = partition_id


def log_key(record: Mapping[str, Any], partition_id: object) -> str:
    """A stable primary key for a log entry that carries no id of its own.

    sha256 hex of the canonical JSON of the source record together with its partition id:
    the same entry read twice (an overlapping window, a resumed run) gets the same key, so a
    loader upserts it instead of duplicating it.
    """
    return _sha256(_canonical_bytes({"partition": partition_id, "record": record})).hexdigest()
