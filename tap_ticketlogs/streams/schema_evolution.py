"""Schemas that follow the data: a field the SCHEMA does not declare gets declared.

Loaders make columns only for the properties a SCHEMA message names (target-postgres,
target-csv and target-snowflake drop the others), so a field an API sends that the tap's
schema does not know would be lost on its way to the warehouse. Each stream therefore keeps
a :class:`SchemaFollower`, called just before each RECORD message is written: when the record
carries a property the current schema does not declare, or a value the type the tap inferred
does not admit, the schema is widened and a new SCHEMA message goes out before that record.

The rules (README "Fields the tap did not know"):

- A new field is declared from its first non-null value: string, ``number`` (integers too:
  target-postgres never changes a column's type, so a bigint column would round a later 2.5
  to 3), boolean, object or array, always nullable. A field seen only as null is not declared
  yet: it holds no value to lose, and declaring it would fix a column type before any value
  says what it is.
- A string field whose name or value says date-time (see :func:`is_datetime_value`) is
  declared ``format: date-time`` and its values are normalised to RFC 3339 UTC, like the
  fields the tap knows; an empty string becomes null, as for those.
- A later value of another type widens the field to the union of the types seen, first type
  first (``["string", "number", "null"]``); a date-time field whose value does not parse
  loses its format and its values pass through as sent. A loader that keeps text and JSON
  columns (target-postgres: any union with string stays text, object/array stay jsonb) loads
  every value; one that cannot change a numeric, boolean or timestamp column's type stops
  with an error naming the column (never a silent loss), and the tap logs one warning line.
- Only fields the tap inferred (here or by discovery sampling) are type-checked per record:
  the declared ones are the streams' contract and normalised by them. With no inferred field,
  a record costs one key-set comparison.

The SDK offers no public hook for "a record is about to be written" or "a schema changed
mid-stream": both are entries of :mod:`tap_ticketlogs.sdk_compat`, "record hook" and
"schema republish" (the SDK's own SCHEMA message, stream maps and flattening then see the new
property), whose tests fail loudly if an SDK release changes them.
"""

from __future__ import annotations

import copy
import decimal
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tap_ticketlogs.sdk_compat import SDKStream
from tap_ticketlogs.timeutil import normalise

if TYPE_CHECKING:
    import logging


#: Python types simplejson (``use_decimal``) gives for each JSON type.
PYTHON_TYPES: dict[str, frozenset[type]] = {
    "string": frozenset({str}),
    "number": frozenset({int, float, decimal.Decimal}),
    "integer": frozenset({int}),
    "boolean": frozenset({bool}),
    "object": frozenset({dict}),
    "array": frozenset({list}),
    "null": frozenset({type(None)}),
}
_JSON_TYPE_OF: dict[type, str] = {
    str: "string",
    bool: "boolean",
    int: "number",
    float: "number",
    decimal.Decimal: "number",
    dict: "object",
    list: "array",
    type(None): "null",
}

# Names that say date-time: createDate, closeTime, operate_time, update_date, createdAt.
_DATETIME_NAME = re.compile(r"(Date|Time|DateTime|At|_time|_date|_at)$")
# A date and a time of day; an offset (or Z) is optional here, required without a name hint.
_ISO_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(?P<offset>Z|z|[+-]\d{2}(:?\d{2})?)?$"
)


_ABSENT = object()


def is_datetime_value(name: str, value: str) -> bool:
    """True when a string field's value is a date-time the tap can normalise to UTC.

    An RFC 3339 value with an offset (``2026-01-04T10:15:22+01:00``) qualifies whatever the
    field is called; a value without an offset only in a field whose name says date-time
    (``…Date``, ``…Time``, ``…_time``, ``…At``), and it is then read as UTC, the zone the tap
    asks every API for. Dates without a time of day stay strings.
    """
    found = _ISO_DATETIME.match(value)
    if found is None:
        return False
    if found.group("offset") is None and not _DATETIME_NAME.search(name):
        return False
    try:
        normalise(value)
    except ValueError:
        return False
    return True


def json_type(value: Any) -> str:  # noqa: ANN401 - any JSON value
    """The JSON Schema type of a parsed JSON value (integers count as ``number``)."""
    return _JSON_TYPE_OF.get(type(value), "string")


@dataclass
class InferredField:
    """A property the tap declared from the data: its types, and whether it is a date-time."""

    name: str
    types: list[str]  # JSON types in the order they were seen, "null" last
    datetime: bool = False
    admitted: frozenset[type] = field(init=False)

    def __post_init__(self) -> None:
        self.admitted = frozenset().union(*(PYTHON_TYPES.get(t, frozenset()) for t in self.types))

    @classmethod
    def from_property(cls, name: str, prop: Mapping[str, Any]) -> InferredField | None:
        """Read a declared property back (e.g. from a catalog discovery sampling wrote)."""
        declared = prop.get("type")
        if declared is None:
            return None  # no type: admits every value
        types = [declared] if isinstance(declared, str) else list(declared)
        if "null" not in types:
            types.append("null")
        return cls(name, types, datetime=prop.get("format") == "date-time")

    @classmethod
    def from_value(cls, name: str, value: Any) -> InferredField:  # noqa: ANN401
        kind = json_type(value)
        datetime = kind == "string" and is_datetime_value(name, value)
        return cls(name, [kind, "null"], datetime=datetime)

    def widened(self, value: Any) -> InferredField:  # noqa: ANN401
        """This field after a value it did not admit (or a date-time that did not parse)."""
        kind = json_type(value)
        types = [t for t in self.types if t != "null"]
        if kind == "number" and "integer" in types:
            types = ["number" if t == "integer" else t for t in types]
        elif kind not in types:
            types.append(kind)
        return InferredField(self.name, [*types, "null"], datetime=False)

    def as_property(self) -> dict[str, Any]:
        prop: dict[str, Any] = {"type": self.types}
        if self.datetime:
            prop["format"] = "date-time"
        return prop


def infer_properties(
    records: Iterable[Mapping[str, Any]], declared: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """Properties for the fields of ``records`` that ``declared`` does not name.

    The same rules as at run time, over every value at once: a field's types are those of
    its non-null values (integers as ``number``), and it is a date-time only when every
    non-empty string value is one.
    """
    fields: dict[str, InferredField] = {}
    for record in records:
        for name, value in record.items():
            if name in declared or value is None:
                continue
            current = fields.get(name)
            if current is None:
                fields[name] = InferredField.from_value(name, value)
            elif type(value) not in current.admitted:
                fields[name] = current.widened(value)
            elif current.datetime and value != "" and not is_datetime_value(name, value):
                fields[name] = InferredField(name, current.types)
    return {name: inferred.as_property() for name, inferred in fields.items()}


class SchemaFollower:
    """One stream's view of its schema as the records show it.

    ``before_record`` is the whole hook: call it with each record just before its RECORD
    message is written.
    """

    def __init__(self, stream: SDKStream[Any], logger: logging.Logger) -> None:
        self._stream = stream
        self._log = logger
        tap_declared = stream.schema.get("properties", {})
        effective = stream.effective_schema.get("properties", {})
        # What the loader will be told: the primary map's input (the selected properties).
        self._published = copy.deepcopy(stream.stream_maps[0].raw_schema)
        self._published.setdefault("properties", {})
        # Deselected properties are known too: the SDK drops them after this hook.
        self._known = frozenset(effective) | frozenset(self._published["properties"])
        self._inferred: dict[str, InferredField] = {}
        for name, prop in effective.items():
            if name not in tap_declared and name in self._published["properties"]:
                inferred = InferredField.from_property(name, prop)
                if inferred is not None:
                    self._inferred[name] = inferred
        # Fields seen only as null so far: watched until a value says what they are.
        self._null_only: set[str] = set()
        self._nothing_to_watch = not self._inferred
        self.schema_messages = 0

    def before_record(self, record: dict[str, Any]) -> None:
        """Widen the schema (and write SCHEMA) if ``record`` needs it; normalise date-times."""
        if self._nothing_to_watch and self._known.issuperset(record):
            return
        self._follow(record)

    def _follow(self, record: dict[str, Any]) -> None:
        changed: list[InferredField] = []
        for name, inferred in self._inferred.items():
            value = record.get(name, _ABSENT)
            if value is _ABSENT:
                continue
            if type(value) not in inferred.admitted:
                changed.append(self._conflict(inferred, value))
            elif inferred.datetime and type(value) is str:
                try:
                    record[name] = normalise(value)
                except ValueError:
                    changed.append(self._conflict(inferred, value))
        if self._null_only:
            for name in [n for n in self._null_only if record.get(n) is not None]:
                self._null_only.discard(name)
                changed.append(self._first_value(record, name))
        if not self._known.issuperset(record):
            for name in record.keys() - self._known:
                if record[name] is None:
                    self._null_only.add(name)
                else:
                    changed.append(self._first_value(record, name))
            # Null-only fields are known: they are watched above, not found new again.
            self._known = self._known | self._null_only
        if changed:
            self._declare(changed)
        self._nothing_to_watch = not self._inferred and not self._null_only

    def _first_value(self, record: dict[str, Any], name: str) -> InferredField:
        new = InferredField.from_value(name, record[name])
        if new.datetime:
            record[name] = normalise(record[name])
        return new

    def _conflict(self, inferred: InferredField, value: Any) -> InferredField:  # noqa: ANN401
        widened = inferred.widened(value)
        self._log.warning(
            "%s: field '%s' was declared %s from earlier records and now has a %s value; "
            "declared %s (a loader that cannot change a column's type stops on it)",
            self._stream.name,
            inferred.name,
            inferred.as_property(),
            json_type(value),
            widened.as_property(),
        )
        return widened

    def _declare(self, fields: list[InferredField]) -> None:
        for inferred in fields:
            self._inferred[inferred.name] = inferred
            self._published["properties"][inferred.name] = inferred.as_property()
        self._known = self._known | {inferred.name for inferred in fields}
        self._log.info(
            "%s: new schema with %s",
            self._stream.name,
            ", ".join(f"{f.name} {f.as_property()}" for f in fields),
        )
        self._publish()

    def _publish(self) -> None:
        self._stream.republish_schema(copy.deepcopy(self._published))
        self.schema_messages += 1
