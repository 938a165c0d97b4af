"""Dagster runs 3 shards in parallel (multiprocess executor), each one `meltano run` of its
shard, into one PostgreSQL schema, with Meltano's state in a PostgreSQL database.

The tables equal, row for row, those of one unsharded `meltano run` into another schema; a
shard that fails mid-run is retried alone, and a second scheduled run adds nothing; a shard
whose `meltano run` is SIGKILLed mid-run is retried at once, alone, from its state.
"""

from __future__ import annotations

import json
import multiprocessing.forkserver
import os
import signal
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
from tap_ticketlogs.timeutil import parse_datetime
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
def own_forkserver() -> Iterator[None]:
    """A forkserver of this test's own for the job's steps.

    The multiprocess executor forks every step from Python's one forkserver per process, and
    a forked step has the forkserver's environment: that of the test that first ran a job in
    this process (its sandbox URL, its state database, both gone). Stopped before and after,
    the server is started by this test's first job, with this test's environment. (``_stop``
    is what CPython's own tests use; there is no public way.)
    """
    multiprocessing.forkserver._forkserver._stop()  # type: ignore[attr-defined]
    yield
    multiprocessing.forkserver._forkserver._stop()  # type: ignore[attr-defined]


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
    own_forkserver: None,
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


class Killer:
    """SIGKILLs the process group of one shard's `meltano run` (what an OOM killer or a
    preempted node does) when that shard asks for the log of one of its Huawei cases.

    Huawei is the last source a run syncs: the shard dies mid-run, its TIXNGO, Akana and
    Socialboards streams read. Also counts the TIXNGO window reads (not discovery's
    samples) per mobile app and window start.
    """

    def __init__(self, sandbox: Sandbox, victim: Shard, suffix: str) -> None:
        self._handle = sandbox.handle
        self._lock = threading.Lock()
        self._sandbox_url = sandbox.base_url
        self.victim = victim
        self.suffix = suffix
        self.armed = False
        self.kills: list[bool] = []  # per kill: whether meltano led a process group of its own
        self.tixngo: Counter[tuple[str, str]] = Counter()
        sandbox.handle = self.handle  # type: ignore[method-assign]

    def handle(self, request: Request) -> Response:
        with self._lock:
            if request.path == TIXNGO_PATH and request.param("limit") != str(SAMPLE_RECORDS):
                self.tixngo[request.param("mobileAppId") or "", request.param("from") or ""] += 1
            case = case_of(request.path)
            if self.armed and case and self.victim.owns({"case_id": case}):
                self.armed = False
                self.kill()
        return self._handle(request)

    def kill(self) -> None:
        pid = self.meltano_run()
        leads_group = os.getpgid(pid) == pid
        if leads_group:
            os.killpg(pid, signal.SIGKILL)
        else:
            # Started in its launcher's group, which the test runs in too: kill what the group
            # kill would have, meltano and the tap and loader it started.
            for process in [pid, *descendants(pid)]:
                os.kill(process, signal.SIGKILL)
        self.kills.append(leads_group)

    def meltano_run(self) -> int:
        """The pid of the victim's `meltano run` (of this test's sandbox: other tests may be
        running the same shard at the same time)."""
        sandbox = f"TAP_TICKETLOGS_SANDBOX_URL={self._sandbox_url}".encode()
        for pid in pids():
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"--state-id-suffix" in argv and self.suffix.encode() in argv and sandbox in environ:
                return pid
        pytest.fail(f"no meltano run of {self.suffix} is running")


def attempt_failures(result: dg.ExecuteJobResult) -> list[str]:
    """Why each failed attempt of a step failed."""
    failures = []
    for event in result.all_events:
        if event.is_step_up_for_retry or event.is_step_failure:
            data = event.step_retry_data if event.is_step_up_for_retry else event.step_failure_data
            error = data.error
            while error is not None and error.cause is not None:
                error = error.cause
            lines = error.message.splitlines() if error else ["?"]
            # The op's one line (the exit status), then the end of meltano's output.
            failures.append("\n  ".join([f"{event.step_key}: {lines[0]}", *lines[-3:]]))
    return failures


def case_of(path: str) -> str | None:
    """The case id of a request for a Huawei case's log, else None."""
    prefix, suffix = CASE_LOG_PATH.split("{case_id}")
    if path.startswith(prefix) and path.endswith(suffix):
        return path[len(prefix) : -len(suffix)]
    return None


def pids() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def descendants(parent: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for pid in pids():
        try:
            # The parent pid is the second field after the parenthesised command name.
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(pid)
    found, pending = [], [parent]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


def test_a_killed_shard_is_retried_at_once_and_resumes_from_its_state(
    installed: None,  # noqa: F811 - the fixture imported above
    own_forkserver: None,
    postgres_dsn: str,
    state_database: str,
    schemas: tuple[psycopg.Connection[Any], str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A SIGKILLed `meltano run` leaves its job "running" in Meltano's system database for
    five minutes, and Meltano refuses any other run of its state id meanwhile: the retry must
    still start (the shard's lock proves the old run dead), resume from the shard's saved
    state, and leave the other shards alone."""
    db, whole_schema, sharded_schema = schemas
    (tmp_path / "dagster").mkdir()
    middle = "2026-01-16T00:00:00Z"
    # Incremental Socialboards runs skip a log-only action on a ticket idle for longer than
    # the margin (a documented limitation, not this test's subject): a month-long margin.
    monkeypatch.setenv("TAP_TICKETLOGS_SOCIALBOARDS_ACTIVITY_MARGIN_HOURS", str(31 * 24))
    with Sandbox(seed=21, records=240) as sandbox:
        case = vendor_api(sandbox, "huawei", HuaweiAPI).cases[0].case_id
        index = next(i for i in range(SHARDS) if Shard(i, SHARDS).owns({"case_id": case}))
        victim = Shard(index, SHARDS)
        suffix = f"shard-{index}-of-{SHARDS}"
        killer = Killer(sandbox, victim, suffix)

        MeltanoProject(sandbox, tmp_path, whole_schema).meltano(
            "run", "tap-ticketlogs", "target-postgres"
        )
        state_uri = f"postgresql+psycopg://postgres@127.0.0.1:5432/{state_database}"
        unsharded_tixngo = Counter(app for app, _ in killer.tixngo.elements())
        killer.tixngo.clear()
        sharded = MeltanoProject(sandbox, tmp_path, sharded_schema)
        for name, value in {**sharded.env, "MELTANO_DATABASE_URI": state_uri}.items():
            monkeypatch.setenv(name, value)

        # The victim's previous run, up to the middle of the month: the state to resume from.
        sharded.meltano("upgrade", "database", MELTANO_DATABASE_URI=state_uri)
        sharded.meltano(
            "run",
            "--state-id-suffix",
            suffix,
            "tap-ticketlogs",
            "target-postgres",
            MELTANO_DATABASE_URI=state_uri,
            TAP_TICKETLOGS_SHARD_INDEX=str(index),
            TAP_TICKETLOGS_SHARD_COUNT=str(SHARDS),
            TAP_TICKETLOGS_END_DATE=middle,
        )
        killer.tixngo.clear()
        killer.armed = True

        with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
            result = dg.execute_job(
                dg.reconstructable(ticketlogs_shards),
                instance=instance,
                run_config=shards_run_config(SHARDS, environment="sandbox"),
            )
            assert result.success, "\n".join(attempt_failures(result))
            attempts = {
                stats.step_key: stats.attempts
                for stats in instance.get_run_step_stats(result.run_id)
                if stats.step_key.startswith("run_shard")
            }

        assert killer.kills == [True], "meltano run was not started in a process group of its own"
        assert attempts == {
            f"run_shard[shard_{i}_of_{SHARDS}]": 2 if i == index else 1 for i in range(SHARDS)
        }
        with psycopg.connect(
            postgres_dsn.replace("dbname=test", f"dbname={state_database}")
        ) as state_db:
            runs = meltano_runs(state_db)
        state_ids = [STATE_ID.format(index=i, count=SHARDS) for i in range(SHARDS)]
        # The killed run's job stays "running" (Meltano calls it failed once stale); the
        # victim's previous run, its killed run and its retry, and one run of every other shard.
        assert runs == Counter(
            {(state_ids[i], "SUCCESS"): 1 for i in range(SHARDS)}
            | {(state_ids[index], "SUCCESS"): 2, (state_ids[index], "RUNNING"): 1}
        )

        # The victim resumed from its state: none of its windows before the middle of the
        # month was read again; every other app's were read once, as by the unsharded run.
        victim_apps = {app for app, _ in killer.tixngo if victim.owns({"mobile_app_id": app})}
        assert victim_apps
        for app, window_start in killer.tixngo:
            if app in victim_apps:
                assert parse_datetime(window_start) >= parse_datetime(middle), (app, window_start)
        other_apps = Counter(app for app, _ in killer.tixngo.elements() if app not in victim_apps)
        assert other_apps == {
            app: count for app, count in unsharded_tixngo.items() if app not in victim_apps
        }

        assert row_counts(db, sharded_schema) == row_counts(db, whole_schema)
        for stream in STREAMS:
            assert table_rows(db, sharded_schema, stream) == table_rows(db, whole_schema, stream), (
                stream
            )
