"""Helpers that shape the records every stream emits."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import simplejson


def canonical_json(value: Any) -> str:  # noqa: ANN401 - any JSON value
    """Serialise a JSON value the same way every time (sorted keys, no spaces)."""
    text: str = simplejson.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return text


def log_key(record: Mapping[str, Any], partition_id: object) -> str:
    """A stable primary key for a log entry that carries no id of its own.

    sha256 hex of the canonical JSON of the source record together with its partition id:
    the same entry read twice (an overlapping window, a resumed run) gets the same key, so a
    loader upserts it instead of duplicating it.
    """
    payload = canonical_json({"partition": partition_id, "record": record})
    return hashlib.sha256(payload.encode()).hexdigest()
