"""Shared REST behaviour: Retry-After, paging keys, record keys, redaction."""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import io
import json
import logging
from typing import Any

import pytest
import requests
import simplejson
from hypothesis import example, given, settings
from hypothesis import strategies as st
from singer_sdk.singerlib import RecordMessage, SchemaMessage, StateMessage

from tap_ticketlogs.http.policy import retry_after_seconds
from tap_ticketlogs.http.redaction import MASK, REDACTOR, Redactor, install_log_redaction
from tap_ticketlogs.sources.tixngo.pagination import next_page_key
from tap_ticketlogs.streams.output import BlockWriter
from tap_ticketlogs.streams.records import log_key

NOW = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.timezone.utc)


def response_with(headers: dict[str, str]) -> requests.Response:
    response = requests.Response()
    response.status_code = 429
    response.headers.update(headers)
    return response


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        ("0", 0.0),
        ("Thu, 01 Jan 2026 12:00:30 GMT", 30.0),
        ("Thu, 01 Jan 2026 11:00:00 GMT", 0.0),  # in the past: no wait
        ("soon", None),
    ],
)
def test_retry_after_seconds_or_http_date(header: str, seconds: float | None) -> None:
    assert retry_after_seconds(response_with({"Retry-After": header}), now=NOW) == seconds


def test_no_retry_after_header() -> None:
    assert retry_after_seconds(response_with({}), now=NOW) is None
    assert retry_after_seconds(None, now=NOW) is None


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ({"pagination": {"nextPageKey": "abc"}, "result": []}, "abc"),
        ({"pagination": {"nextPageKey": None}, "result": []}, None),
        ({"pagination": {"nextPageKey": ""}, "result": []}, None),
        ({"pagination": {}, "result": []}, None),
        ({"result": []}, None),
        ({"nextPageKey": "top", "result": []}, "top"),
        ([], None),
    ],
)
def test_next_page_key_absent_null_or_empty_ends_paging(body: object, key: str | None) -> None:
    assert next_page_key(body) == key


def test_log_key_is_stable_and_partition_specific() -> None:
    entry = {"b": 1, "a": {"y": 2, "x": [1, 2]}}
    reordered = {"a": {"x": [1, 2], "y": 2}, "b": 1}
    assert log_key(entry, "app-1") == log_key(reordered, "app-1")
    assert log_key(entry, "app-1") != log_key(entry, "app-2")
    assert len(log_key(entry, "app-1")) == 64


# Keys computed by earlier versions: they are primary keys in users' tables, so a change in
# how they are computed must not change one of them.
@pytest.mark.parametrize(
    ("record", "partition", "key"),
    [
        (
            {"ticketId": "TKT-1-000012345", "actionDate": "2026-01-01T06:51:30.000+00:00",
             "deviceOs": None, "n": 3},
            "app-1",
            "9d9c7b87ce7e18f8c13387f2753bd8879277ad69e78201a3ba4033157701a894",
        ),
        (
            {"name": "Zoë ✓", "path": "a\\b", "ctl": "x\u0001y", "q": '"quoted"'},
            4242,
            "28be8e7e617bac8ca1d2d402567874da498679c2cf7c8bd2f48031913b4f1744",
        ),
        (
            {"amount": decimal.Decimal("0.1234567890123456789"), "big": 23271170434824,
             "nested": {"b": [1, {"d": 2, "c": None}], "a": True}},
            "case-9",
            "47d2151c6c4074ab74ebff361807325a5ff6d88f8f754bf0f5fb28aa3749b1c7",
        ),
    ],
)  # fmt: skip
def test_log_keys_stay_those_of_earlier_versions(
    record: dict[str, Any], partition: object, key: str
) -> None:
    assert log_key(record, partition) == key


_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.decimals(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)


@example(record={"note": "DEL \x7f"}, partition="app-1")  # msgspec leaves it, simplejson escapes it
@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(max_size=8), _JSON_VALUES, max_size=6), st.text() | st.integers())
def test_log_key_is_the_sha256_of_the_canonical_json(
    record: dict[str, Any], partition: object
) -> None:
    # The README's definition of log_key, spelled with simplejson (the text the first keys
    # came from).
    canonical = simplejson.dumps(
        {"partition": partition, "record": record},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    assert log_key(record, partition) == hashlib.sha256(canonical.encode()).hexdigest()


def test_redactor_masks_secrets_and_their_encodings() -> None:
    redactor = Redactor()
    redactor.add("s3cr3t/value+x", "abc")  # too short to be a secret: not masked
    text = "token=s3cr3t%2Fvalue%2Bx raw s3cr3t/value+x form s3cr3t%2Fvalue%2Bx abc"
    redacted = redactor.redact(text)
    assert "s3cr3t" not in redacted
    assert redacted.count(MASK) == 3
    assert redacted.endswith("abc")


def test_redactor_masks_basic_auth_header() -> None:
    redactor = Redactor()
    redactor.add_basic_credentials("me@example.com", "key-123456")
    header = "Basic bWVAZXhhbXBsZS5jb206a2V5LTEyMzQ1Ng=="
    assert redactor.redact(header) == f"Basic {MASK}"


def test_log_records_are_redacted() -> None:
    install_log_redaction()
    REDACTOR.add("very-secret-token-42")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("tap_ticketlogs.test_redaction")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logger.info("sending %s", "Bearer very-secret-token-42")
        try:
            msg = "failed with very-secret-token-42"
            raise RuntimeError(msg)
        except RuntimeError:
            logger.exception("boom")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "very-secret-token-42" not in text
    assert f"Bearer {MASK}" in text
    assert "RuntimeError: failed with ***" in text


def test_block_writer_keeps_records_until_the_next_other_message(
    capsys: pytest.CaptureFixture[str],
) -> None:
    writer = BlockWriter()
    writer.write_message(RecordMessage(stream="s", record={"n": 1}))
    writer.write_message(RecordMessage(stream="s", record={"n": 2}))
    assert capsys.readouterr().out == ""  # no system call per record
    writer.write_message(StateMessage(value={"bookmarks": {"s": {"n": 2}}}))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["type"] for line in lines] == ["RECORD", "RECORD", "STATE"]
    assert [line["record"]["n"] for line in lines[:2]] == [1, 2]


def test_a_signal_handler_writing_mid_record_waits_for_the_record(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # SIGTERM's handler runs between two bytecodes of the main thread, possibly while a
    # record is half appended to the block; its STATE line must not land inside it.
    writer = BlockWriter()
    state = StateMessage(value={"bookmarks": {"s": {"n": 1}}})

    class SignalWhileEncoded:
        def __str__(self) -> str:  # called by the encoder, in the middle of the record
            writer.after_current_write(lambda: writer.write_message(state))
            return "value"

    writer.write_message(RecordMessage(stream="s", record={"n": 1, "x": SignalWhileEncoded()}))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["type"] for line in lines] == ["RECORD", "STATE"]
    assert lines[0]["record"] == {"n": 1, "x": "value"}


def test_an_unchanged_schema_is_written_once(capsys: pytest.CaptureFixture[str]) -> None:
    writer = BlockWriter()
    schema = {"type": "object", "properties": {"n": {"type": ["integer", "null"]}}}
    for _ in range(3):  # the SDK writes it again for every child partition
        writer.write_message(SchemaMessage("s", schema, ["n"]))
        writer.write_message(RecordMessage(stream="s", record={"n": 1}))
    writer.write_message(SchemaMessage("t", schema, ["n"]))  # another stream
    wider = {"type": "object", "properties": {**schema["properties"], "m": {"type": "string"}}}
    writer.write_message(SchemaMessage("s", wider, ["n"]))  # changed: written
    writer.flush()
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["type"], line["stream"]) for line in lines] == [
        ("SCHEMA", "s"),
        ("RECORD", "s"),
        ("RECORD", "s"),
        ("RECORD", "s"),
        ("SCHEMA", "t"),
        ("SCHEMA", "s"),
    ]
    assert lines[0] == SchemaMessage("s", schema, ["n"]).to_dict()
    assert lines[-1]["schema"] == wider
