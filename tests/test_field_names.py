"""One spelling per fact: no two fields of a stream become one column in a loader.

Loaders that normalise names (target-sqlite, snake_case in many warehouses) turn
``mobileAppId`` and ``mobile_app_id`` into one column and stop with "Duplicate column name".
Every SCHEMA a run writes (the first, and those schema evolution writes mid-run) and every
catalog schema discovery writes must keep its names distinct once lower-cased with
everything but letters and digits removed, in both of the sandbox's field styles.
"""

from __future__ import annotations

import io
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import redirect_stdout
from typing import Any

import pytest

from tap_ticketlogs.sandbox.core import FIELD_STYLES
from tap_ticketlogs.sandbox.server import Sandbox
from tap_ticketlogs.tap import TapTicketLogs
from tests.helpers import TapOutput, run_tap


def normalised(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def collisions(names: Iterable[str]) -> list[list[str]]:
    """Groups of names that normalise to the same column name."""
    groups: dict[str, list[str]] = defaultdict(list)
    for name in names:
        groups[normalised(name)].append(name)
    return [sorted(group) for group in groups.values() if len(group) > 1]


@pytest.fixture(scope="module", params=FIELD_STYLES)
def sandbox(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    with Sandbox(seed=8, records=120, field_style=request.param) as served:
        yield served


def test_every_schema_a_run_writes_keeps_names_distinct(sandbox: Sandbox) -> None:
    output = run_tap(sandbox.tap_config())
    schemas = [message for message in output.messages if message["type"] == "SCHEMA"]
    assert {message["stream"] for message in schemas} == {
        "tixngo_ticket_status_logs",
        "akana_transaction_logs",
        "socialboards_tickets",
        "socialboards_ticket_logs",
        "huawei_cases",
        "huawei_case_operate_logs",
    }
    problems = {
        f"{message['stream']} (SCHEMA {index})": found
        for index, message in enumerate(schemas)
        if (found := collisions(message["schema"]["properties"]))
    }
    assert problems == {}
    # Records carry no field their SCHEMA does not name, so the records are covered too.
    for stream in {message["stream"] for message in schemas}:
        fields = set().union(*(set(record) for record in output.records(stream)))
        assert collisions(fields) == [], stream


def test_every_catalog_schema_keeps_names_distinct(sandbox: Sandbox) -> None:
    # Discovery sampling (on for TIXNGO) adds the fields a first page shows.
    config = {
        **sandbox.tap_config(),
        **{
            source: {**section, "discovery_sampling": True}
            for source, section in sandbox.tap_config().items()
            if isinstance(section, dict) and "base_url" in section
        },
    }
    tap = TapTicketLogs(config=config, setup_mapper=False)
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        tap.run_discovery()
    catalog: dict[str, Any] = json.loads(buffer.getvalue())
    problems = {
        entry["tap_stream_id"]: found
        for entry in catalog["streams"]
        if (found := collisions(entry["schema"]["properties"]))
    }
    assert problems == {}


def test_the_partition_is_named_once_whatever_the_api_sends(sandbox: Sandbox) -> None:
    output: TapOutput = run_tap(sandbox.tap_config())
    partition_fields = {
        "tixngo_ticket_status_logs": "mobileAppId",
        "akana_transaction_logs": "AppVersionID",
        "socialboards_ticket_logs": "ticketId",
        "huawei_case_operate_logs": "incident_id",
    }
    for stream, field in partition_fields.items():
        records = output.records(stream)
        assert records, stream
        assert all(record.get(field) not in (None, "") for record in records), stream


@pytest.mark.parametrize("mode", ["listed", "named by id"])
def test_every_record_carries_its_replication_key(sandbox: Sandbox, mode: str) -> None:
    config = sandbox.tap_config()
    if mode == "named by id":
        huawei, socialboards = sandbox.vendors["huawei"], sandbox.vendors["socialboards"]
        config["huawei"]["case_ids"] = [case.case_id for case in huawei.cases[:4]]  # type: ignore[attr-defined]
        config["socialboards"]["ticket_ids"] = list(socialboards.tickets)[:4]  # type: ignore[attr-defined]
    output = run_tap(config)
    for stream in sorted({m["stream"] for m in output.messages if m["type"] == "SCHEMA"}):
        (key,) = output.schema(stream)["bookmark_properties"]
        records = output.records(stream)
        assert records, (stream, mode)
        missing = [record for record in records if record.get(key) in (None, "")]
        assert missing == [], f"{stream} ({mode}): {len(missing)} records without {key}"
