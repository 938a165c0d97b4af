"""``--discover`` samples the APIs that ask for it and declares the fields it saw."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tap_ticketlogs.sandbox.server import Sandbox
from tap_ticketlogs.sources.tixngo.sandbox import MOBILE_APPS
from tap_ticketlogs.streams.schema_evolution import infer_properties
from tap_ticketlogs.streams.sharding import shard_number
from tests.helpers import run_cli, run_tap

TIXNGO = "tixngo_ticket_status_logs"
AKANA = "akana_transaction_logs"


def discovered(result_stdout: str) -> dict[str, dict[str, Any]]:
    catalog = json.loads(result_stdout)
    return {entry["tap_stream_id"]: entry for entry in catalog["streams"]}


def warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "failed, its catalog" in line]


def test_discovery_samples_tixngo_by_default_and_others_when_asked(tmp_path: Path) -> None:
    with Sandbox(seed=4, records=600, field_style="extended", vendors=("tixngo", "akana")) as sb:
        config = sb.tap_config()
        result = run_cli("--discover", config=config, tmp_path=tmp_path)
        assert result.returncode == 0, result.stderr
        assert not warnings(result.stderr)
        streams = discovered(result.stdout)
        tixngo = streams[TIXNGO]["schema"]["properties"]
        assert tixngo["id"] == {"type": ["string", "null"]}
        # Declared, not sampled: the tap names each entry's app with the API's spelling.
        assert tixngo["mobileAppId"]["type"] == ["string"]
        assert tixngo["logDate"] == {"type": ["string", "null"], "format": "date-time"}
        assert ["properties", "logDate"] in [m["breadcrumb"] for m in streams[TIXNGO]["metadata"]]
        # The vendor documents Akana's fields: no sampling unless asked.
        assert "ContractID" not in streams[AKANA]["schema"]["properties"]
        assert sb.stats()["requests"].get("GET /api/apps/versions/{AppVersionID}/txlogs") is None

        config["akana"]["discovery_sampling"] = True
        config["tixngo"]["discovery_sampling"] = False
        result = run_cli("--discover", config=config, tmp_path=tmp_path)
        assert result.returncode == 0, result.stderr
        streams = discovered(result.stdout)
        assert "id" not in streams[TIXNGO]["schema"]["properties"]
        akana = streams[AKANA]["schema"]["properties"]
        assert akana["ContractID"] == {"type": ["string", "null"]}
        assert akana["ResponseDateTime"]["format"] == "date-time"
        assert not warnings(result.stderr)


def test_without_network_or_credentials_the_declared_schema_with_one_warning(
    tmp_path: Path,
) -> None:
    closed = {
        "start_date": "2026-01-01T00:00:00Z",
        "tixngo": {
            "base_url": "http://127.0.0.1:9",
            "api_key": "sampling-secret-key-1",
            "mobile_app_ids": ["app-1"],
        },
    }
    result = run_cli("--discover", config=closed, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    (line,) = warnings(result.stderr)
    assert "discovery sampling of tixngo failed" in line
    assert "ConnectionError" in line
    assert [w for w in result.stderr.splitlines() if "WARNING" in w] == [line]
    assert "id" not in discovered(result.stdout)[TIXNGO]["schema"]["properties"]
    assert "sampling-secret-key-1" not in result.stderr

    with Sandbox(seed=4, records=50, vendors=("tixngo",)) as sandbox:
        config = sandbox.tap_config()
        config["tixngo"]["api_key"] = "a-wrong-sampling-key"
        result = run_cli("--discover", config=config, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    (line,) = warnings(result.stderr)
    assert "rejected the credentials" in line
    assert "a-wrong-sampling-key" not in result.stderr
    assert TIXNGO in discovered(result.stdout)


def test_a_sync_with_the_sampled_catalog_declares_and_normalises_from_the_start(
    tmp_path: Path,
) -> None:
    with Sandbox(seed=4, records=120, field_style="extended", vendors=("tixngo",)) as sandbox:
        config = sandbox.tap_config()
        result = run_cli("--discover", config=config, tmp_path=tmp_path)
        catalog = json.loads(result.stdout)
        for entry in catalog["streams"]:
            entry["metadata"][0]["metadata"]["selected"] = True
        output = run_tap(config, catalog=catalog)
    schemas = [m for m in output.messages if m["type"] == "SCHEMA" and m["stream"] == TIXNGO]
    assert {"id", "logDate", "mobileAppId"} <= set(schemas[0]["schema"]["properties"])
    records = output.records(TIXNGO)
    assert len(records) == 120
    assert all(record["logDate"].endswith("Z") for record in records)


def test_a_date_time_only_when_every_sampled_value_parses() -> None:
    records = [
        {"closedTime": "2026-01-01T10:00:00Z", "seen": "2026-01-01T10:00:00+01:00", "n": 1},
        {"closedTime": "", "seen": "yesterday", "n": 2.5},
        {"closedTime": None, "seen": "2026-01-02T10:00:00+01:00", "n": None},
    ]
    assert infer_properties(records, {"n": {}}) == {
        "closedTime": {"type": ["string", "null"], "format": "date-time"},
        "seen": {"type": ["string", "null"]},
    }
    assert infer_properties(records, {})["n"] == {"type": ["number", "null"]}


def test_a_shard_that_owns_no_partition_still_samples(tmp_path: Path) -> None:
    count = 8
    owned = {shard_number({"mobile_app_id": app}, count) for app in MOBILE_APPS}
    idle = min(set(range(count)) - owned)
    # Enough entries that the latest window of the first app holds some.
    with Sandbox(seed=4, records=600, field_style="extended", vendors=("tixngo",)) as sandbox:
        config = {**sandbox.tap_config(), "shard_count": count, "shard_index": idle}
        result = run_cli("--discover", config=config, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert not warnings(result.stderr)
    assert "logDate" in discovered(result.stdout)[TIXNGO]["schema"]["properties"]
