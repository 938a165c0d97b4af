"""Shards: a stable owner per partition, every row once across shards, state per shard."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tap_ticketlogs.errors import ConfigError
from tap_ticketlogs.sandbox.server import Sandbox
from tap_ticketlogs.sources.huawei.sandbox import HuaweiAPI
from tap_ticketlogs.sources.socialboards.sandbox import SocialboardsAPI
from tap_ticketlogs.streams.sharding import Shard, partition_text, shard_number
from tests.helpers import TapOutput, error_lines, run_cli, run_tap, vendor_api

PRIMARY_KEYS = {
    "akana_transaction_logs": "TransactionID",
    "huawei_case_operate_logs": "incident_log_id",
    "huawei_cases": "incident_id",
    "socialboards_ticket_logs": "log_key",
    "socialboards_tickets": "id",
    "tixngo_ticket_status_logs": "log_key",
}
# The partition each stream's rows belong to: the column that holds its id.
PARTITION_COLUMNS = {
    "akana_transaction_logs": ("app_version_id", "AppVersionID"),
    "huawei_case_operate_logs": ("case_id", "incident_id"),
    "huawei_cases": ("case_id", "incident_id"),
    "socialboards_ticket_logs": ("ticket_id", "ticketId"),
    "socialboards_tickets": ("ticket_id", "id"),
    "tixngo_ticket_status_logs": ("mobile_app_id", "mobileAppId"),
}


def test_partition_ids_hash_the_same_in_every_process() -> None:
    ids: list[dict[str, Any]] = [{"ticket_id": n} for n in range(200)]
    ids += [{"mobile_app_id": f"app-{n}"} for n in range(50)]
    here = [shard_number(partition, 7) for partition in ids]
    script = (
        "import json, sys; from tap_ticketlogs.streams.sharding import shard_number; "
        "ids = json.load(sys.stdin); print(json.dumps([shard_number(p, 7) for p in ids]))"
    )
    for seed in ("1", "2"):
        other = subprocess.run(
            [sys.executable, "-c", script],
            input=json.dumps(ids),
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed},
        )
        assert json.loads(other.stdout) == here
    # Pinned (checked with `printf ticket_id=1 | sha256sum`): changing the hash would move
    # every deployed partition to another shard.
    assert partition_text({"ticket_id": 17}) == "ticket_id=17"
    assert [shard_number({"ticket_id": n}, 4) for n in range(8)] == [0, 1, 0, 3, 3, 1, 2, 2]
    # A ticket id from the config (text) and from the API (a number) agree.
    assert shard_number({"ticket_id": "17"}, 5) == shard_number({"ticket_id": 17}, 5)


def test_partitions_spread_over_the_shards() -> None:
    counts = Counter(shard_number({"case_id": f"case-{n}"}, 4) for n in range(4000))
    assert set(counts) == {0, 1, 2, 3}
    assert all(850 < count < 1150 for count in counts.values()), counts


def test_each_partition_has_exactly_one_owner() -> None:
    partitions = [{"app_version_id": f"v{n}.tenant"} for n in range(100)]
    owned = [Shard(index, 3).owned(partitions) for index in range(3)]
    assert sorted(p["app_version_id"] for part in owned for p in part) == sorted(
        p["app_version_id"] for p in partitions
    )
    assert Shard().owned(partitions) == partitions


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"shard_count": 3, "shard_index": 3}, "setting 'shard_index' must be from 0 to 2"),
        ({"shard_count": 2, "shard_index": -1}, "setting 'shard_index' must be from 0 to 1"),
        ({"shard_count": 0}, "setting 'shard_count' must be at least 1, not 0"),
        ({"shard_count": "2"}, "setting 'shard_count' must be an integer, not '2'"),
    ],
)
def test_bad_shard_settings_are_named(settings: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        Shard.from_config(settings)


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"shard_count": 3, "shard_index": 3}, "setting 'shard_index' must be from 0 to 2"),
        ({"shard_count": 0}, "setting 'shard_count' is invalid: 0 is less than the minimum of 1"),
    ],
)
def test_bad_shard_settings_are_one_line_from_the_command(
    sandbox: Sandbox, settings: dict[str, Any], expected: str, tmp_path: Path
) -> None:
    result = run_cli(config={**sandbox.tap_config(), **settings}, tmp_path=tmp_path)
    assert result.returncode == 1
    (line,) = error_lines(result.stderr)
    assert expected in line
    assert "Traceback" not in result.stderr
    assert sandbox.stats()["requests"] == {}  # rejected before any request


def keyed(output: TapOutput, stream: str) -> dict[Any, dict[str, Any]]:
    records = output.records(stream)
    by_key = {record[PRIMARY_KEYS[stream]]: record for record in records}
    assert len(by_key) == len(records), f"{stream}: a key emitted twice by one run"
    return by_key


@pytest.mark.parametrize("count", [2, 3])
def test_the_shards_together_emit_the_unsharded_records_exactly_once(
    sandbox: Sandbox, count: int
) -> None:
    config = sandbox.tap_config()
    whole = run_tap(config)
    shards = [
        run_tap({**config, "shard_count": count, "shard_index": index}) for index in range(count)
    ]
    for stream in PRIMARY_KEYS:
        expected = keyed(whole, stream)
        assert expected, stream
        union: dict[Any, dict[str, Any]] = {}
        for index, output in enumerate(shards):
            part = keyed(output, stream)
            assert not set(part) & set(union), f"{stream}: a row emitted by two shards"
            union.update(part)
            partition_key, column = PARTITION_COLUMNS[stream]
            for record in part.values():
                assert Shard(index, count).owns({partition_key: record[column]}), stream
        assert union == expected, stream
    # Nothing read twice either: every log request belongs to one shard.
    for index, output in enumerate(shards):
        bookmarks = output.final_state["bookmarks"]
        for stream in ("tixngo_ticket_status_logs", "akana_transaction_logs"):
            contexts = [p["context"] for p in bookmarks.get(stream, {}).get("partitions", [])]
            assert all(Shard(index, count).owns(context) for context in contexts), stream


def test_configured_tickets_and_cases_are_split_too(sandbox: Sandbox) -> None:
    config = sandbox.tap_config()
    tickets = sorted(vendor_api(sandbox, "socialboards", SocialboardsAPI).tickets)[:12]
    cases = [case.case_id for case in vendor_api(sandbox, "huawei", HuaweiAPI).cases]
    config["socialboards"]["ticket_ids"] = tickets
    config["huawei"]["case_ids"] = cases
    streams = ("socialboards_tickets", "socialboards_ticket_logs", "huawei_cases")
    streams += ("huawei_case_operate_logs",)
    whole = run_tap(config)
    shards = [run_tap({**config, "shard_count": 3, "shard_index": i}) for i in range(3)]
    for stream in streams:
        expected = keyed(whole, stream)
        parts = [keyed(output, stream) for output in shards]
        assert sum(len(part) for part in parts) == len(expected), stream
        assert {key: row for part in parts for key, row in part.items()} == expected, stream
    assert {row["id"] for row in whole.records("socialboards_tickets")} == set(tickets)


def test_a_shard_keeps_only_its_own_partitions_of_a_copied_state(sandbox: Sandbox) -> None:
    config = sandbox.tap_config()
    unsharded_state = run_tap(config).final_state
    apps = [
        p["context"]
        for p in unsharded_state["bookmarks"]["tixngo_ticket_status_logs"]["partitions"]
    ]
    assert len(apps) == 3
    shard = Shard(1, 2)
    resumed = run_tap({**config, "shard_count": 2, "shard_index": 1}, state=unsharded_state)
    # Every bookmark was already at the end: the shard resumes and reads no new log entry.
    for stream in ("tixngo_ticket_status_logs", "akana_transaction_logs"):
        assert resumed.records(stream) == [], stream
        contexts = [
            p["context"] for p in resumed.final_state["bookmarks"][stream].get("partitions", [])
        ]
        assert contexts
        assert all(shard.owns(context) for context in contexts), stream
    kept = resumed.final_state["bookmarks"]["tixngo_ticket_status_logs"]["partitions"]
    assert [p["context"] for p in kept] == [app for app in apps if shard.owns(app)]


def test_a_shard_without_partitions_of_a_stream_emits_none(sandbox: Sandbox) -> None:
    config = sandbox.tap_config()
    apps = config["tixngo"]["mobile_app_ids"]
    # A shard count larger than the apps leaves some shard without any.
    count = 8
    owners = {shard_number({"mobile_app_id": app}, count) for app in apps}
    idle = next(index for index in range(count) if index not in owners)
    output = run_tap({**config, "shard_count": count, "shard_index": idle})
    assert output.records("tixngo_ticket_status_logs") == []
    tixngo_state = output.final_state["bookmarks"].get("tixngo_ticket_status_logs", {})
    assert not tixngo_state.get("partitions")
    assert "replication_key_value" not in tixngo_state
    # The shard's other streams still ran.
    assert output.records("socialboards_ticket_logs") or output.records("huawei_case_operate_logs")


def test_a_shard_without_partitions_still_checks_every_source(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    config = sandbox.tap_config()
    count = 8
    owners = {
        shard_number({"mobile_app_id": app}, count) for app in config["tixngo"]["mobile_app_ids"]
    }
    idle = next(index for index in range(count) if index not in owners)
    result = run_cli(
        "--test", config={**config, "shard_count": count, "shard_index": idle}, tmp_path=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "tap-ticketlogs: test: tixngo: ok" in result.stderr
    assert "/organizer/report/ticket-status-logs" in str(sandbox.stats()["requests"])
