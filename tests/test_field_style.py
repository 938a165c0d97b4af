"""The sandbox's extended field style: every field served reaches a SCHEMA, new ones mid-run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tap_ticketlogs.sandbox.server import Sandbox
from tap_ticketlogs.timeutil import parse_datetime
from tests.helpers import TapOutput, run_tap

# Per stream: the fields the extended style adds from the start, and the one that appears
# in the middle of the data (None: the stream has none).
EXTENDED = {
    "tixngo_ticket_status_logs": ({"id", "logDate", "mobileAppId"}, "resalePrice"),
    "akana_transaction_logs": ({"ContractID", "ListenerName", "ResponseDateTime"}, "CacheHit"),
    "socialboards_tickets": ({"priority", "dueTime"}, None),
    "socialboards_ticket_logs": ({"entryId", "ticketId", "channel"}, "sentimentScore"),
    "huawei_cases": ({"severity", "update_time"}, None),
    "huawei_case_operate_logs": ({"operate_ip"}, "attachment_count"),
}
# Streams read in time windows, oldest first: the new field appears after records without it.
TIME_ORDERED = ("tixngo_ticket_status_logs", "akana_transaction_logs")
NEW_DATETIMES = {
    "tixngo_ticket_status_logs": "logDate",
    "akana_transaction_logs": "ResponseDateTime",
    "socialboards_tickets": "dueTime",
    "huawei_cases": "update_time",
}


@pytest.fixture(scope="module")
def extended_run() -> Iterator[tuple[TapOutput, dict[str, list[dict[str, Any]]]]]:
    with Sandbox(seed=5, records=150, field_style="extended", keep_served=True) as sandbox:
        output = run_tap(sandbox.tap_config())
        yield output, sandbox.served()


@pytest.mark.parametrize("stream", sorted(EXTENDED))
def test_every_field_served_is_declared_before_its_first_record(
    extended_run: tuple[TapOutput, dict[str, list[dict[str, Any]]]], stream: str
) -> None:
    output, served = extended_run
    declared: set[str] = set()
    records_before_new_field = 0
    initial, appearing = EXTENDED[stream]
    for message in output.messages:
        if message.get("stream") != stream:
            continue
        if message["type"] == "SCHEMA":
            declared = set(message["schema"]["properties"])
        elif message["type"] == "RECORD":
            record = message["record"]
            assert set(record) <= declared, f"undeclared: {set(record) - declared}"
            if appearing is not None and appearing not in record:
                records_before_new_field += 0 if appearing in declared else 1
    served_fields = set().union(*(set(item) for item in served[stream]))
    assert initial <= served_fields
    assert served_fields <= declared
    if appearing is not None:
        assert appearing in served_fields
        if stream in TIME_ORDERED:
            assert records_before_new_field > 10  # it did appear in the middle of the run


def test_new_values_arrive_as_served_and_new_date_times_in_utc(
    extended_run: tuple[TapOutput, dict[str, list[dict[str, Any]]]],
) -> None:
    output, served = extended_run
    tixngo = {r["id"]: r for r in output.records("tixngo_ticket_status_logs")}
    for item in served["tixngo_ticket_status_logs"]:
        record = tixngo[item["id"]]
        assert record["mobileAppId"] == item["mobileAppId"]
        assert record.get("resalePrice") == item.get("resalePrice")
    prices = [r["resalePrice"] for r in tixngo.values() if "resalePrice" in r]
    assert any(isinstance(p, int) for p in prices)
    assert any(isinstance(p, float) for p in prices)
    for stream, field in NEW_DATETIMES.items():
        schema = [m for m in output.messages if m["type"] == "SCHEMA" and m["stream"] == stream]
        assert schema[-1]["schema"]["properties"][field]["format"] == "date-time"
        values = [r[field] for r in output.records(stream)]
        assert values
        assert all(value.endswith("Z") for value in values), (stream, values[:3])
    akana = {r["TransactionID"]: r for r in output.records("akana_transaction_logs")}
    for item in served["akana_transaction_logs"]:
        # Served as GMT wall time without an offset: read as UTC (the tap asks for GMT).
        assert parse_datetime(akana[item["TransactionID"]]["ResponseDateTime"]) == (
            parse_datetime(item["ResponseDateTime"])
        )


def test_the_documented_style_is_what_it_was() -> None:
    with Sandbox(seed=5, records=60, keep_served=True) as sandbox:
        output = run_tap(sandbox.tap_config())
        served = sandbox.served()
    for stream, (initial, appearing) in EXTENDED.items():
        fields = set().union(*(set(item) for item in served[stream]))
        assert not fields & (initial | {appearing}), stream
        kinds = [m["type"] for m in output.messages if m.get("stream") == stream]
        # One SCHEMA per sync of the stream (children: per parent), none from evolution.
        schemas = [m for m in output.messages if m["type"] == "SCHEMA" and m["stream"] == stream]
        assert all(s["schema"] == schemas[0]["schema"] for s in schemas), stream
        assert "RECORD" in kinds
