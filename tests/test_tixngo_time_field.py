"""TIXNGO's replication key is a field the entries carry, whatever the account calls it.

The vendor page lists no entry fields; ``actionDate`` is the tap's guess. Against entries that
carry their time as ``logDate`` (as another account's API may), discovery sampling finds the
field and makes it the catalog's replication key, ``tixngo.time_field`` names it outright, and
a run that still takes the guess stops with one line naming the setting, instead of loading a
replication-key column that is always NULL.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from tap_ticketlogs.sandbox.server import Sandbox
from tap_ticketlogs.sources.tixngo.sandbox import TixngoAPI
from tap_ticketlogs.tap import TapTicketLogs
from tests.helpers import error_lines, run_cli, run_tap

STREAM = "tixngo_ticket_status_logs"
# Enough entries that the latest window of the first app, which sampling reads, holds some.
RECORDS = 900


@pytest.fixture(params=["documented", "extended"])
def log_date_sandbox(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    """Entries whose time is ``logDate`` (no ``actionDate`` at all)."""
    api = TixngoAPI(seed=3, records=RECORDS, time_field="logDate")
    with Sandbox(vendors=("tixngo",), apis={"tixngo": api}, field_style=request.param) as sandbox:
        yield sandbox


def discovered_catalog(config: dict[str, Any]) -> dict[str, Any]:
    tap = TapTicketLogs(config=config, setup_mapper=False)
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        tap.run_discovery()
    catalog: dict[str, Any] = json.loads(buffer.getvalue())
    for entry in catalog["streams"]:
        entry["metadata"][0]["metadata"]["selected"] = True
    return catalog


def replication_key_of(catalog: dict[str, Any]) -> str:
    entry = next(entry for entry in catalog["streams"] if entry["tap_stream_id"] == STREAM)
    stream_metadata = next(item for item in entry["metadata"] if item["breadcrumb"] == [])
    assert stream_metadata["metadata"]["valid-replication-keys"] == [entry["replication_key"]]
    key: str = entry["replication_key"]
    return key


def test_discovery_finds_the_time_field_and_the_run_fills_it(log_date_sandbox: Sandbox) -> None:
    config = log_date_sandbox.tap_config()
    catalog = discovered_catalog(config)
    assert replication_key_of(catalog) == "logDate"
    output = run_tap(config, catalog=catalog)
    schema = output.schema(STREAM)
    assert schema["bookmark_properties"] == ["logDate"]
    assert schema["schema"]["properties"]["logDate"]["format"] == "date-time"
    records = output.records(STREAM)
    assert len(records) == RECORDS
    assert all(record["logDate"].endswith("Z") for record in records)  # normalised to UTC
    assert all("actionDate" not in record for record in records)


def test_the_setting_names_the_time_field_without_discovery(log_date_sandbox: Sandbox) -> None:
    config = log_date_sandbox.tap_config()
    config["tixngo"]["time_field"] = "logDate"
    output = run_tap(config)
    assert output.schema(STREAM)["bookmark_properties"] == ["logDate"]
    records = output.records(STREAM)
    assert len(records) == RECORDS
    assert all(record["logDate"].endswith("Z") for record in records)


def test_a_run_on_the_wrong_guess_stops_with_one_line(
    log_date_sandbox: Sandbox, tmp_path: Path
) -> None:
    result = run_cli(config=log_date_sandbox.tap_config(), tmp_path=tmp_path)
    assert result.returncode == 1
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert "carries no 'actionDate' (the replication key)" in lines[0]
    assert "logDate" in lines[0]
    assert "'tixngo.time_field'" in lines[0]
    # Nothing is lost: resumed from the failed run's last STATE, with the field named,
    # every entry arrives.
    states = [json.loads(line)["value"] for line in result.stdout.splitlines() if '"STATE"' in line]
    config = log_date_sandbox.tap_config()
    config["tixngo"]["time_field"] = "logDate"
    resumed = run_tap(config, state=states[-1] if states else None)
    assert len({record["log_key"] for record in resumed.records(STREAM)}) == RECORDS


def test_entries_that_carry_the_guess_keep_it(tmp_path: Path) -> None:
    # The extended style sends actionDate and logDate: the guess holds and stays the key.
    with Sandbox(seed=3, records=RECORDS, vendors=("tixngo",), field_style="extended") as sb:
        catalog = discovered_catalog(sb.tap_config())
        assert replication_key_of(catalog) == "actionDate"
        records = run_tap(sb.tap_config(), catalog=catalog).records(STREAM)
    assert len(records) == RECORDS
    assert all(record["actionDate"].endswith("Z") for record in records)
