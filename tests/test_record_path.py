"""The lean record path keeps the SDK's guarantees: selection, stream maps, keys, format."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import platform
from typing import Any

import msgspec
import pytest
import simplejson
from singer_sdk.singerlib import RecordMessage, SchemaMessage

from tap_ticketlogs.cli import limit_malloc_arenas
from tap_ticketlogs.http.responses import JSON_DECODER
from tap_ticketlogs.sandbox.server import Sandbox
from tap_ticketlogs.streams.output import BlockWriter
from tap_ticketlogs.streams.records import canonical_json
from tap_ticketlogs.tap import TapTicketLogs
from tap_ticketlogs.timeutil import normalise, parse_datetime, to_rfc3339
from tests.helpers import run_tap, source_config

STREAM = "tixngo_ticket_status_logs"
STREAMS = {"tixngo": "ticket_status_logs", "akana": "transaction_logs"}


def test_every_record_is_written_with_the_sdk_message_shape(sandbox: Sandbox) -> None:
    output = run_tap(source_config(sandbox, "tixngo"))
    messages = [m for m in output.messages if m["type"] == "RECORD"]
    assert len(messages) == 600
    for message in messages:
        assert set(message) == {"type", "stream", "record", "time_extracted"}
        extracted = dt.datetime.fromisoformat(message["time_extracted"])
        assert extracted.utcoffset() == dt.timedelta(0)
        assert message["stream"] == STREAM


def test_deselected_fields_are_left_out(sandbox: Sandbox) -> None:
    config = source_config(sandbox, "tixngo")
    catalog = TapTicketLogs(config=config).catalog_dict
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == ["properties", "deviceOs"]:
                item["metadata"]["selected"] = False
    records = run_tap(config, catalog=catalog).records(STREAM)
    assert len(records) == 600
    assert all("deviceOs" not in record for record in records)
    assert all("actionName" in record for record in records)


def test_stream_maps_alias_filter_and_add_properties(sandbox: Sandbox) -> None:
    config = source_config(sandbox, "tixngo")
    config["stream_maps"] = {
        STREAM: {
            "__alias__": "status_logs",
            "__filter__": "actionName == 'Activate'",
            "is_activation": "True",
        }
    }
    output = run_tap(config)
    plain = run_tap(source_config(sandbox, "tixngo")).records(STREAM)
    mapped = output.records("status_logs")
    assert output.records(STREAM) == []
    assert mapped
    assert len(mapped) == sum(1 for record in plain if record["actionName"] == "Activate")
    assert all(record["is_activation"] is True for record in mapped)


def test_block_writer_encodes_exact_numbers_and_keeps_message_order(
    capsys: Any,
) -> None:
    writer = BlockWriter()
    writer.write_message(SchemaMessage(stream="s", schema={"type": "object"}, key_properties=[]))
    record = JSON_DECODER.decode(
        b'{"amount": 1.10, "big": 12345678901234567890123, "t": "\xc3\xa9"}'
    )
    writer.write_message(
        RecordMessage(
            stream="s", record=record, time_extracted=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        )
    )
    writer.flush()
    lines = capsys.readouterr().out.splitlines()
    assert json.loads(lines[0])["type"] == "SCHEMA"
    assert '"amount":1.10' in lines[1]  # the number as the API wrote it
    parsed = json.loads(lines[1], parse_float=decimal.Decimal)
    assert parsed["record"] == {
        "amount": decimal.Decimal("1.10"),
        "big": 12345678901234567890123,
        "t": "é",
    }
    assert parsed["time_extracted"] == "2026-01-01T00:00:00+00:00"


def test_canonical_json_is_the_text_earlier_runs_keyed_on() -> None:
    with Sandbox(seed=13, records=300) as sandbox:
        config = sandbox.tap_config()
    bodies = [
        b'{"a": 1.50, "b": [1e2, 2.5E-3, -0.0, null, true], "c": {"z": 1, "y": "x/y"}}',
        b'{"quote": "say \\"hi\\"", "tab": "a\\tb", "ctl": "\\u0001"}',
        b'{"name": "Ren\\u00e9e", "raw": "\xc3\xa9t\xc3\xa9", "big": 123456789012345678901234}',
        b'{"n": -9223372036854775809, "e": "", "list": [[], {}]}',
    ]
    values: list[Any] = [JSON_DECODER.decode(body) for body in bodies]
    values.append(config)
    for value in values:
        for partition in ("app-1", 42):
            wrapped = {"partition": partition, "record": value}
            expected = simplejson.dumps(wrapped, sort_keys=True, separators=(",", ":"), default=str)
            assert canonical_json(wrapped) == expected


def test_bodies_are_parsed_with_exact_numbers() -> None:
    body = JSON_DECODER.decode(b'{"x": 0.1, "n": 3}')
    assert body == {"x": decimal.Decimal("0.1"), "n": 3}
    assert msgspec.json.encode(body) == b'{"x":"0.1","n":3}'  # msgspec's default: text
    assert canonical_json(body) == '{"n":3,"x":0.1}'  # ours: the number as sent


@pytest.mark.parametrize(
    "value",
    [
        "2026-01-01T01:13:11.167+01:00",
        "2026-01-01T01:13:11.1234567+01:00",
        "2026-01-01T01:13:11Z",
        "2026-01-01T01:13:11.000001-05:30",
        "2025-12-31T23:59:59.999999+14:00",
        "2026-01-01 01:13:11+00:00",
        "2026-01-01T01:13:11",
        " 2026-01-01T01:13:11.5Z ",
    ],
)
def test_the_fast_date_time_path_gives_what_the_full_parser_gives(value: str) -> None:
    assert normalise(value) == to_rfc3339(parse_datetime(value))
    assert normalise(value, default_tz="Europe/Zurich") == to_rfc3339(
        parse_datetime(value, default_tz="Europe/Zurich")
    )


def test_the_tap_command_limits_malloc_arenas_where_glibc_allows() -> None:
    is_glibc = platform.libc_ver()[0] == "glibc"
    assert limit_malloc_arenas() is is_glibc
