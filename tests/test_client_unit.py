"""Shared REST behaviour: Retry-After, paging keys, record keys, redaction."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging

import pytest
import requests
from singer_sdk.singerlib import RecordMessage, StateMessage

from tap_ticketlogs.output import BlockWriter
from tap_ticketlogs.records import log_key
from tap_ticketlogs.redaction import MASK, REDACTOR, Redactor, install_log_redaction
from tap_ticketlogs.retrying import retry_after_seconds
from tap_ticketlogs.tixngo.pagination import next_page_key

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
