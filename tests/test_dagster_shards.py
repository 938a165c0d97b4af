"""Dagster runs 3 shards in parallel (multiprocess executor), each one `meltano run` of its
shard, into one PostgreSQL schema, with Meltano's state in a PostgreSQL database.

The tables equal, row for row, those of one unsharded `meltano run` into another schema; a
shard that fails mid-run is retried alone, and a second scheduled run adds nothing.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg
import pytest

from orchestration.dagster_defs import (
    ShardPlan,
    default_meltano,
    prepare_loader,
    shards_run_config,
    shards_schedule,
    ticketlogs_shards,
)
from tap_ticketlogs.sandbox.core import Request, Response
from tap_ticketlogs.sandbox.server import Sandbox
from tap_ticketlogs.sources.huawei.sandbox import HuaweiAPI
from tap_ticketlogs.streams.discovery_sampling import SAMPLE_RECORDS
from tap_ticketlogs.streams.sharding import Shard
from tests.helpers import vendor_api
from tests.test_meltano_e2e import (
    LOG_STREAMS,
    STREAMS,
    MeltanoProject,
    extracted_after,
    installed,  # noqa: F401 - the module's fixture: plugins installed once
    latest_extraction,
    row_counts,
)

pytestmark = [pytest.mark.postgres, pytest.mark.meltano]

SHARDS = 3
TIXNGO_PATH = "/organizer/report/ticket-status-logs"
CASE_LOG_PATH = "/v2/servicerequest/cases/{case_id}/operate-logs"
STATE_ID = "sandbox:tap-ticketlogs-to-target-postgres:shard-{index}-of-{count}"
# Columns the loader adds; they say when a row was loaded, not what it holds.
LOADER_COLUMNS = [
    "_sdc_extracted_at",
    "_sdc_received_at",
    "_sdc_batched_at",
    "_sdc_deleted_at",
    "_sdc_sequence",
    "_sdc_table_version",
    "_sdc_sync_started_at",
]


@pytest.fixture
def state_database(postgres_dsn: str) -> Iterator[str]:
    """A fresh PostgreSQL database for Meltano's system database, dropped afterwards."""
    name = f"ticketlogs_state_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        admin.execute(f'create database "{name}"')
        try:
            yield name
        finally:
            admin.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture
def schemas(postgres_dsn: str) -> Iterator[tuple[psycopg.Connection[Any], str, str]]:
    suffix = uuid.uuid4().hex[:10]
    whole, sharded = f"e2e_whole_{suffix}", f"e2e_shards_{suffix}"
    with psycopg.connect(postgres_dsn, autocommit=True) as connection:
        try:
            yield connection, whole, sharded
        finally:
            for schema in (whole, sharded):
                connection.execute(f'drop schema if exists "{schema}" cascade')


def table_rows(connection: psycopg.Connection[Any], schema: str, table: str) -> list[str]:
    """Every row as canonical JSON, without the loader's own columns, in key order."""
    rows = connection.execute(
        f'select to_jsonb(t) - %s::text[] from "{schema}"."{table}" t', (LOADER_COLUMNS,)
    ).fetchall()
    return sorted(json.dumps(row, sort_keys=True) for (row,) in rows)


class Traffic:
    """Counts the TIXNGO requests per mobile app, and refuses one shard's first request for
    a Huawei case's log once (HTTP 403, fatal for the tap).

    Huawei is the last source a run syncs: the shard fails mid-run, after its TIXNGO, Akana
    and Socialboards streams were loaded and their state saved.
    """

    def __init__(self, sandbox: Sandbox, refused_case: str) -> None:
        self._handle = sandbox.handle
        self._lock = threading.Lock()
        self.refused_case = refused_case
        self.armed = False  # set: the next request for the case's log is refused
        self.refused = 0
        self.tixngo: Counter[str] = Counter()
        sandbox.handle = self.handle  # type: ignore[method-assign]

    def handle(self, request: Request) -> Response:
        with self._lock:
            if request.path == TIXNGO_PATH:
                # Discovery samples (one small page per --discover a meltano run makes, so one
                # per shard) are not window reads.
                if request.param("limit") != str(SAMPLE_RECORDS):
                    self.tixngo[request.param("mobileAppId") or ""] += 1
            elif self.armed and request.path == CASE_LOG_PATH.format(case_id=self.refused_case):
                self.armed = False
                self.refused += 1
                return Response.json(403, {"error_code": "injected", "error_msg": "once"})
        return self._handle(request)


def meltano_runs(connection: psycopg.Connection[Any]) -> Counter[tuple[str, str]]:
    rows = connection.execute("select job_name, state from runs").fetchall()
    return Counter((job, str(state)) for job, state in rows)


def shard_states(connection: psycopg.Connection[Any]) -> dict[str, dict[str, Any]]:
    rows = connection.execute("select state_id, completed_state from state").fetchall()
    return {state_id: json.loads(completed) for state_id, completed in rows}


# The partition of a log stream's row, as the shards split them: its column, and the key
# the partition has in the stream's context.
PARTITION_COLUMNS = {
    "akana_transaction_logs": ("AppVersionID", "app_version_id"),
    "huawei_case_operate_logs": ("incident_id", "case_id"),
    "socialboards_ticket_logs": ("ticketId", "ticket_id"),
    "tixngo_ticket_status_logs": ("mobileAppId", "mobile_app_id"),
}


def owned_rows(connection: psycopg.Connection[Any], schema: str, shard: Shard) -> dict[str, int]:
    """The rows of each log stream whose partition the shard owns."""
    owned = {}
    for stream, (column, key) in PARTITION_COLUMNS.items():
        rows = connection.execute(
            f'select "{column}", count(*) from "{schema}"."{stream}" group by 1'
        ).fetchall()
        owned[stream] = sum(count for value, count in rows if shard.owns({key: value}))
    return owned


def shard_step_metadata(instance: dg.DagsterInstance, run_id: str) -> dict[str, dict[str, Any]]:
    """The output metadata of each shard's step (its successful attempt), as plain values."""
    found = {}
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_OUTPUT):
        event = entry.dagster_event
        assert event is not None
        if event.step_key and event.step_key.startswith("run_shard"):
            metadata = event.step_output_data.metadata
            found[event.step_key] = {name: value.value for name, value in metadata.items()}
    return found


def test_dagster_runs_the_shards_in_parallel_and_retries_one_alone(
    installed: None,  # noqa: F811 - the fixture imported above
    postgres_dsn: str,
    state_database: str,
    schemas: tuple[psycopg.Connection[Any], str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db, whole_schema, sharded_schema = schemas
    for project_dir in ("whole", "sharded", "dagster"):
        (tmp_path / project_dir).mkdir()
    with Sandbox(seed=21, records=240) as sandbox:
        case = vendor_api(sandbox, "huawei", HuaweiAPI).cases[0].case_id
        victim = next(i for i in range(SHARDS) if Shard(i, SHARDS).owns({"case_id": case}))
        traffic = Traffic(sandbox, refused_case=case)

        # One unsharded run: the tables the shards must reproduce.
        MeltanoProject(sandbox, tmp_path / "whole", whole_schema).meltano(
            "run", "tap-ticketlogs", "target-postgres"
        )
        truth = sandbox.stats()["records"]
        assert row_counts(db, whole_schema) == {stream: truth[stream] for stream in STREAMS}

        # The workers' environment: sandbox credentials, the loader, state in PostgreSQL.
        state_uri = f"postgresql+psycopg://postgres@127.0.0.1:5432/{state_database}"
        sharded = MeltanoProject(sandbox, tmp_path / "sharded", sharded_schema)
        for name, value in {**sharded.env, "MELTANO_DATABASE_URI": state_uri}.items():
            monkeypatch.setenv(name, value)

        unsharded_tixngo = Counter(traffic.tixngo)
        assert len(unsharded_tixngo) == 3
        traffic.tixngo.clear()
        traffic.armed = True

        run_config = shards_run_config(SHARDS, environment="sandbox")
        with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
            first = dg.execute_job(
                dg.reconstructable(ticketlogs_shards), instance=instance, run_config=run_config
            )
            assert first.success
            assert traffic.refused == 1
            # The retried shard resumed from its saved state: no TIXNGO window was read twice.
            assert traffic.tixngo == unsharded_tixngo
            attempts = {
                stats.step_key: stats.attempts
                for stats in instance.get_run_step_stats(first.run_id)
                if stats.step_key.startswith("run_shard")
            }
            assert attempts == {
                f"run_shard[shard_{i}_of_{SHARDS}]": 2 if i == victim else 1 for i in range(SHARDS)
            }

            with psycopg.connect(
                postgres_dsn.replace("dbname=test", f"dbname={state_database}")
            ) as state_db:
                runs = meltano_runs(state_db)
                states = shard_states(state_db)
            state_ids = [STATE_ID.format(index=i, count=SHARDS) for i in range(SHARDS)]
            # The failed shard ran twice, every other shard once: the retry touched no one else.
            assert runs == Counter(
                {(state_ids[i], "SUCCESS"): 1 for i in range(SHARDS)}
                | {(state_ids[victim], "FAIL"): 1}
            )
            assert set(states) == set(state_ids)
            for index, state_id in enumerate(state_ids):
                bookmarks = states[state_id]["singer_state"]["bookmarks"]
                for stream in ("tixngo_ticket_status_logs", "akana_transaction_logs"):
                    for partition in bookmarks.get(stream, {}).get("partitions", []):
                        assert Shard(index, SHARDS).owns(partition["context"]), (state_id, stream)
                        assert partition["replication_key_value"] == "2026-01-31T00:00:00Z"

            # Row for row what the unsharded run loaded, and one row per key.
            assert row_counts(db, sharded_schema) == row_counts(db, whole_schema)
            for stream in STREAMS:
                assert table_rows(db, sharded_schema, stream) == table_rows(
                    db, whole_schema, stream
                ), stream

            # Each shard's step says what it loaded: its records of a log stream are the
            # rows of the partitions it owns (the retried shard's second attempt re-read
            # its Huawei cases; the rest was loaded, and saved, by its first).
            loaded = shard_step_metadata(instance, first.run_id)
            print(json.dumps(loaded, indent=1, sort_keys=True))  # noqa: T201 - for the closing note
            for index in range(SHARDS):
                step = loaded[f"run_shard[shard_{index}_of_{SHARDS}]"]
                owned = owned_rows(db, sharded_schema, Shard(index, SHARDS))
                for stream in ("huawei_case_operate_logs",) if index == victim else LOG_STREAMS:
                    # A stream with nothing of this shard's to read has no entry.
                    assert step.get(f"{stream} records", 0) == owned[stream], (index, stream)
                assert step["requests"] > 0
                assert step["retries"] == 0

            # The schedule's next run: every shard resumes from its state and adds nothing.
            first_loaded = latest_extraction(db, sharded_schema)
            tick = shards_schedule.evaluate_tick(dg.build_schedule_context(instance=instance))
            (request,) = tick.run_requests or []
            second = dg.execute_job(
                dg.reconstructable(ticketlogs_shards),
                instance=instance,
                run_config=request.run_config,
            )
            assert second.success
        assert row_counts(db, sharded_schema) == row_counts(db, whole_schema)
        for stream in LOG_STREAMS:
            assert extracted_after(db, sharded_schema, stream, first_loaded) == 0, stream


def test_the_loader_creates_the_selected_tables_before_any_shard_starts(
    installed: None,  # noqa: F811 - the fixture imported above
    postgres_dsn: str,
    schemas: tuple[psycopg.Connection[Any], str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Shards starting together on a new schema race to create it (target-postgres looks,
    then creates) and all but one die; the plan step has the loader create the schema and
    the selected streams' tables first, from SCHEMA messages alone: no record is read."""
    db, schema, _ = schemas
    selected = [stream for stream in STREAMS if stream != "huawei_cases"]
    with Sandbox(seed=21, records=240) as sandbox:
        project = MeltanoProject(sandbox, tmp_path, schema)
        for name, value in project.env.items():
            monkeypatch.setenv(name, value)
        # Selected as users select: the extractor's `select` extra, from the environment.
        monkeypatch.setenv("TAP_TICKETLOGS__SELECT", json.dumps([f"{s}.*" for s in selected]))
        traffic = Traffic(sandbox, refused_case="")

        plan = ShardPlan(shard_count=3, environment="sandbox")
        prepared = prepare_loader(plan, default_meltano())

        assert prepared == len(selected)
        # Tables and their columns exist, empty; the deselected stream has none.
        assert row_counts(db, schema) == dict.fromkeys(selected, 0)
        columns = {
            name
            for (name,) in db.execute(
                "select column_name from information_schema.columns"
                " where table_schema = %s and table_name = 'tixngo_ticket_status_logs'",
                (schema,),
            )
        }
        assert {"ticketId", "toStatus", "_sdc_extracted_at"} <= columns, columns
        # Discovery samples one small page per endpoint; no TIXNGO window was read.
        assert traffic.tixngo == Counter()
