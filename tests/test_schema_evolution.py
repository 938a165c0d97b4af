"""Schemas that follow the data: fields the tap did not know get declared before their record."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from tap_ticketlogs.streams.schema_evolution import InferredField, is_datetime_value
from tap_ticketlogs.tap import TapTicketLogs
from tests.helpers import TapOutput, run_tap

PATH = "/organizer/report/ticket-status-logs"
STREAM = "tixngo_ticket_status_logs"

# One window of entries, as an API that grows fields would send them.
#: An entry's time (the replication key), for the entries that carry nothing else of note.
AT = "2026-01-01T09:00:00.000+01:00"

ENTRIES: list[dict[str, Any]] = [
    {"id": "L1", "ticketId": "T-1", "actionDate": "2026-01-01T10:00:00.000+01:00"},
    {
        "id": "L2",
        "ticketId": "T-2",
        "actionDate": "2026-01-01T11:00:00.000+01:00",
        "count": 2,
        "closedTime": "2026-01-01T10:00:00",
        "note": None,
    },
    {
        "id": "L3",
        "ticketId": "T-3",
        "actionDate": "2026-01-01T12:00:00.000+01:00",
        "count": 2.5,
        "note": "hello",
        "scannedOn": "2026-01-01T12:00:00.5+02:00",
    },
    {
        "id": "L4",
        "ticketId": "T-4",
        "actionDate": "2026-01-01T13:00:00.000+01:00",
        "count": "many",
        "closedTime": "soon",
        "note": "again",
    },
    {
        "id": "L5",
        "ticketId": "T-5",
        "actionDate": "2026-01-01T14:00:00.000+01:00",
        "labels": ["a", "b"],
        "seat": {"row": 1},
        "vip": True,
        "openDate": "2026-01-01",
        "closedTime": "2026-01-01T10:30:00Z",
    },
]


def config_for(server: HTTPServer) -> dict[str, Any]:
    return {
        "start_date": "2026-01-01T00:00:00Z",
        "end_date": "2026-01-02T00:00:00Z",
        "tixngo": {
            "base_url": server.url_for("").rstrip("/"),
            "api_key": "schema-evolution-key",
            "mobile_app_ids": ["app-1"],
        },
    }


def stream_messages(output: TapOutput) -> list[dict[str, Any]]:
    return [m for m in output.messages if m.get("stream") == STREAM and m["type"] != "STATE"]


def test_new_fields_are_declared_before_the_first_record_that_carries_them(
    httpserver: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    httpserver.expect_request(PATH).respond_with_json({"result": ENTRIES})
    messages = stream_messages(run_tap(config_for(httpserver)))
    # One warning line per conflict, naming the stream and the field.
    conflicts = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(conflicts) == 2
    assert all(line.startswith(f"{STREAM}: field '") for line in conflicts)
    assert {line.split("'")[1] for line in conflicts} == {"count", "closedTime"}
    kinds = [m["type"] for m in messages]
    # The initial SCHEMA, then one before each record that brought a new field or type.
    assert kinds == ["SCHEMA", *["SCHEMA", "RECORD"] * 5]
    schemas = [m["schema"]["properties"] for m in messages if m["type"] == "SCHEMA"]
    records = [m["record"] for m in messages if m["type"] == "RECORD"]

    assert "id" not in schemas[0]
    assert schemas[1]["id"] == {"type": ["string", "null"]}
    # Integers are declared as number from the start: a loader keeps the column's type.
    assert schemas[2]["count"] == {"type": ["number", "null"]}
    assert schemas[2]["closedTime"] == {"type": ["string", "null"], "format": "date-time"}
    assert "note" not in schemas[2]  # only null so far: nothing says what it is
    assert records[1]["closedTime"] == "2026-01-01T10:00:00Z"
    # 2.5 fits "number": no new SCHEMA for it; the record's new fields are what changed.
    assert set(schemas[3]) - set(schemas[2]) == {"note", "scannedOn"}
    assert schemas[3]["scannedOn"] == {"type": ["string", "null"], "format": "date-time"}
    assert records[2]["scannedOn"] == "2026-01-01T10:00:00.500000Z"
    assert records[2]["count"] == 2.5
    # Conflicts widen to the union of what was seen; a date-time that does not parse loses
    # its format, and values pass through as sent.
    assert schemas[4]["count"] == {"type": ["number", "string", "null"]}
    assert schemas[4]["closedTime"] == {"type": ["string", "null"]}
    assert records[3]["count"] == "many"
    assert records[3]["closedTime"] == "soon"
    assert schemas[5]["labels"] == {"type": ["array", "null"]}
    assert schemas[5]["seat"] == {"type": ["object", "null"]}
    assert schemas[5]["vip"] == {"type": ["boolean", "null"]}
    assert schemas[5]["openDate"] == {"type": ["string", "null"]}  # a date, not a date-time
    assert records[4]["closedTime"] == "2026-01-01T10:30:00Z"  # as sent: no longer normalised
    assert records[4]["seat"] == {"row": 1}
    # The declared schema is kept: the known date-time is still normalised.
    assert records[0]["actionDate"] == "2026-01-01T09:00:00Z"
    # Every later SCHEMA keeps every earlier property.
    for earlier, later in itertools.pairwise(schemas):
        assert set(earlier) <= set(later)


def test_no_new_field_means_one_schema_message(httpserver: HTTPServer) -> None:
    entries = [{"ticketId": f"T-{n}", "actionDate": "2026-01-01T10:00:00Z"} for n in range(50)]
    httpserver.expect_request(PATH).respond_with_json({"result": entries})
    messages = stream_messages(run_tap(config_for(httpserver)))
    assert [m["type"] for m in messages].count("SCHEMA") == 1
    assert [m["type"] for m in messages].count("RECORD") == 50


def test_a_deselected_field_is_not_declared_again(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH).respond_with_json(
        {"result": [{"ticketId": "T-1", "actionDate": AT, "deviceOs": "ios", "gate": "B"}]}
    )
    config = config_for(httpserver)
    catalog = TapTicketLogs(config=config).catalog_dict
    (entry,) = catalog["streams"]
    for item in entry["metadata"]:
        if item["breadcrumb"] == ["properties", "deviceOs"]:
            item["metadata"]["selected"] = False
    messages = stream_messages(run_tap(config, catalog=catalog))
    schemas = [m["schema"]["properties"] for m in messages if m["type"] == "SCHEMA"]
    assert "deviceOs" not in schemas[0]
    assert "deviceOs" not in schemas[-1]
    assert schemas[-1]["gate"] == {"type": ["string", "null"]}
    (record,) = [m["record"] for m in messages if m["type"] == "RECORD"]
    assert "deviceOs" not in record
    assert record["gate"] == "B"


def test_new_fields_reach_the_stream_maps_and_flattening(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH).respond_with_json(
        {
            "result": [
                {"ticketId": "T-1", "actionDate": AT},
                {"ticketId": "T-2", "actionDate": AT, "seat": {"row": 3}, "gate": "B"},
            ]
        }
    )
    config = {
        **config_for(httpserver),
        "stream_maps": {STREAM: {"gate_lower": "record.get('gate', '').lower()"}},
        "flattening_enabled": True,
        "flattening_max_depth": 1,
    }
    messages = stream_messages(run_tap(config))
    schemas = [m["schema"]["properties"] for m in messages if m["type"] == "SCHEMA"]
    assert "gate_lower" in schemas[0]
    assert {"gate", "seat", "gate_lower"} <= set(schemas[-1])
    records = [m["record"] for m in messages if m["type"] == "RECORD"]
    assert records[1]["gate"] == "B"
    assert records[1]["gate_lower"] == "b"
    # Flattened at the last level: an object the schema does not detail travels as JSON text.
    assert schemas[-1]["seat"] == {"type": ["string", "null"]}
    assert json.loads(records[1]["seat"]) == {"row": 3}


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("scannedOn", "2026-01-04T10:15:22+01:00", True),  # an offset says it
        ("scannedOn", "2026-01-04T10:15:22.1234567Z", True),
        ("scannedOn", "2026-01-04T10:15:22", False),  # no offset, no name hint
        ("closeTime", "2026-01-04T10:15:22", True),
        ("close_time", "2026-01-04 10:15:22", True),
        ("createdAt", "2026-01-04T10:15", True),
        ("updateDate", "2026-01-04", False),  # a date without a time of day
        ("updateDate", "tomorrow", False),
        ("closeTime", "2026-13-45T10:15:22Z", False),  # looks like one, does not parse
        ("ticketId", "1234", False),
    ],
)
def test_what_counts_as_a_date_time(name: str, value: str, expected: bool) -> None:
    assert is_datetime_value(name, value) is expected


def test_a_declared_integer_widens_to_number() -> None:
    field = InferredField.from_property("n", {"type": "integer"})
    assert field is not None
    assert field.widened(2.5).as_property() == {"type": ["number", "null"]}
    assert field.widened("x").as_property() == {"type": ["integer", "string", "null"]}
