"""End to end with Meltano, from this repository's meltano.yml: sandbox -> tap -> loaders.

`meltano run tap-ticketlogs target-postgres` into the PostgreSQL on 127.0.0.1:5432 (a fresh
schema per test, dropped afterwards), asserting on the tables with SQL; Meltano state, full
refresh, stream maps with flattening, and the CSV loader.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import hashlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tap_ticketlogs.sandbox.server import Sandbox
from tap_ticketlogs.sources.socialboards.sandbox import TEAM
from tap_ticketlogs.timeutil import parse_datetime

ROOT = Path(__file__).resolve().parent.parent
MELTANO = str(Path(sys.executable).with_name("meltano"))
STREAMS = (
    "akana_transaction_logs",
    "huawei_case_operate_logs",
    "huawei_cases",
    "socialboards_ticket_logs",
    "socialboards_tickets",
    "tixngo_ticket_status_logs",
)
PRIMARY_KEYS = {
    "akana_transaction_logs": ["TransactionID"],
    "huawei_case_operate_logs": ["incident_log_id"],
    "huawei_cases": ["incident_id"],
    "socialboards_ticket_logs": ["log_key"],
    "socialboards_tickets": ["id"],
    "tixngo_ticket_status_logs": ["log_key"],
}
# The replication key each stream's catalog declares: a column no row may leave NULL.
REPLICATION_KEYS = {
    "akana_transaction_logs": "RequestDateTime",
    "huawei_case_operate_logs": "operate_time",
    "huawei_cases": "create_time",
    "socialboards_ticket_logs": "time",
    "socialboards_tickets": "lastThreadElementCreationTime",
    "tixngo_ticket_status_logs": "actionDate",
}
# Streams whose rows are log entries read incrementally (the parents are re-listed).
LOG_STREAMS = (
    "akana_transaction_logs",
    "huawei_case_operate_logs",
    "socialboards_ticket_logs",
    "tixngo_ticket_status_logs",
)

TESTED_LOADERS = ("target-postgres", "target-csv", "target-jsonl")

pytestmark = [pytest.mark.postgres, pytest.mark.meltano]


class MeltanoProject:
    """This repository's Meltano project, with its own state database and target schema."""

    def __init__(self, sandbox: Sandbox, state_dir: Path, schema: str) -> None:
        self.sandbox = sandbox
        self.schema = schema
        self.env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "MELTANO_ENVIRONMENT": "sandbox",
            "MELTANO_DATABASE_URI": f"sqlite:///{state_dir / 'meltano.db'}",
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "TAP_TICKETLOGS_SANDBOX_URL": sandbox.base_url,
            # Trust auth: the target insists on a password or a URL, so give it the URL.
            "TARGET_POSTGRES_SQLALCHEMY_URL": "postgresql+psycopg://postgres@127.0.0.1:5432/test",
            "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": schema,
        }

    def meltano(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [MELTANO, *args],
            cwd=ROOT,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        return result


@pytest.fixture(scope="module")
def installed() -> None:
    """The plugins of meltano.yml the tests run, installed once (quick when already
    installed)."""
    subprocess.run(
        [MELTANO, "install", "tap-ticketlogs", *TESTED_LOADERS],
        cwd=ROOT,
        env={**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"},
        check=True,
        capture_output=True,
        timeout=900,
    )


@pytest.fixture
def project(
    installed: None, postgres_dsn: str, tmp_path: Path
) -> Iterator[tuple[MeltanoProject, psycopg.Connection[Any]]]:
    schema = f"e2e_{uuid.uuid4().hex[:10]}"
    with (
        Sandbox(seed=21, records=240) as sandbox,
        psycopg.connect(postgres_dsn, autocommit=True) as connection,
    ):
        try:
            yield MeltanoProject(sandbox, tmp_path, schema), connection
        finally:
            connection.execute(f'drop schema if exists "{schema}" cascade')


def row_counts(connection: psycopg.Connection[Any], schema: str) -> dict[str, int]:
    tables = connection.execute(
        "select table_name from information_schema.tables where table_schema = %s", (schema,)
    ).fetchall()
    return {
        name: connection.execute(f'select count(*) from "{schema}"."{name}"').fetchone()[0]  # type: ignore[index]
        for (name,) in tables
    }


def column_types(connection: psycopg.Connection[Any], schema: str, table: str) -> dict[str, str]:
    rows = connection.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = %s and table_name = %s",
        (schema, table),
    ).fetchall()
    return dict(rows)


def primary_key(connection: psycopg.Connection[Any], schema: str, table: str) -> list[str]:
    rows = connection.execute(
        "select kcu.column_name from information_schema.table_constraints tc "
        "join information_schema.key_column_usage kcu "
        "  on kcu.constraint_name = tc.constraint_name and kcu.table_schema = tc.table_schema "
        "where tc.table_schema = %s and tc.table_name = %s and tc.constraint_type = 'PRIMARY KEY' "
        "order by kcu.ordinal_position",
        (schema, table),
    ).fetchall()
    return [name for (name,) in rows]


def rows_without_replication_key(
    connection: psycopg.Connection[Any], schema: str
) -> dict[str, int]:
    """Per table, the rows whose replication-key column is NULL (or missing altogether)."""
    counts = {}
    for stream, key in REPLICATION_KEYS.items():
        if key not in column_types(connection, schema, stream):
            counts[stream] = -1
            continue
        row = connection.execute(
            f'select count(*) from "{schema}"."{stream}" where "{key}" is null'
        ).fetchone()
        assert row is not None
        counts[stream] = int(row[0])
    return counts


def extracted_after(
    connection: psycopg.Connection[Any], schema: str, table: str, moment: Any
) -> int:
    row = connection.execute(
        f'select count(*) from "{schema}"."{table}" where _sdc_extracted_at > %s', (moment,)
    ).fetchone()
    assert row is not None
    return int(row[0])


def latest_extraction(connection: psycopg.Connection[Any], schema: str) -> Any:
    return max(
        connection.execute(f'select max(_sdc_extracted_at) from "{schema}"."{table}"').fetchone()[0]  # type: ignore[index]
        for table in STREAMS
    )


def test_meltano_run_into_postgres(project: tuple[MeltanoProject, psycopg.Connection[Any]]) -> None:
    meltano, db = project
    sandbox, schema = meltano.sandbox, meltano.schema

    meltano.meltano("run", "tap-ticketlogs", "target-postgres")
    truth = sandbox.stats()["records"]
    assert row_counts(db, schema) == {stream: truth[stream] for stream in STREAMS}
    assert rows_without_replication_key(db, schema) == dict.fromkeys(STREAMS, 0)
    # Each log row names its partition once, as the API names it.
    for stream, (column, old) in {
        "tixngo_ticket_status_logs": ("mobileAppId", "mobile_app_id"),
        "akana_transaction_logs": ("AppVersionID", "app_version_id"),
        "socialboards_ticket_logs": ("ticketId", "ticket_id"),
        "huawei_case_operate_logs": ("incident_id", "case_id"),
    }.items():
        columns = column_types(db, schema, stream)
        assert column in columns, stream
        assert old not in columns, stream
        nulls = db.execute(f'select count(*) from "{schema}"."{stream}" where "{column}" is null')
        assert nulls.fetchone() == (0,), stream
    for stream, keys in PRIMARY_KEYS.items():
        assert primary_key(db, schema, stream) == keys, stream

    # UTC date-times land as timestamps, nested objects as JSON.
    assert column_types(db, schema, "tixngo_ticket_status_logs")["actionDate"].startswith(
        "timestamp"
    )
    assert column_types(db, schema, "akana_transaction_logs")["RequestDateTime"].startswith(
        "timestamp"
    )
    assert column_types(db, schema, "huawei_case_operate_logs")["operate_time"].startswith(
        "timestamp"
    )
    social = column_types(db, schema, "socialboards_ticket_logs")
    assert social["time"].startswith("timestamp")
    assert social["user"] in ("json", "jsonb")
    assert social["includedItems"] in ("json", "jsonb")
    emails = db.execute(
        f'select "user"->>\'email\' from "{schema}".socialboards_ticket_logs '
        "where \"user\"->>'email' is not null limit 5"
    ).fetchall()
    assert emails
    assert all("@" in email for (email,) in emails)

    # Meltano keeps the tap's bookmarks.
    state_ids = meltano.meltano("state", "list").stdout.split()
    (state_id,) = [line for line in state_ids if "tap-ticketlogs-to-target-postgres" in line]
    state = json.loads(meltano.meltano("state", "get", state_id).stdout)
    bookmarks = state["singer_state"]["bookmarks"]
    for stream in LOG_STREAMS:
        assert stream in bookmarks, stream
    tixngo = bookmarks["tixngo_ticket_status_logs"]["partitions"]
    assert {p["replication_key_value"] for p in tixngo} == {"2026-01-31T00:00:00Z"}

    # New data: the second run loads only the new log rows.
    first_run = latest_extraction(db, schema)
    sandbox.append(30)
    end_date = sandbox.tap_config()["end_date"]
    meltano.meltano("run", "tap-ticketlogs", "target-postgres", TAP_TICKETLOGS_END_DATE=end_date)
    truth = sandbox.stats()["records"]
    assert row_counts(db, schema) == {stream: truth[stream] for stream in STREAMS}
    for stream in LOG_STREAMS:
        assert extracted_after(db, schema, stream, first_run) == 30, stream

    # Full refresh: everything is extracted again, and the upsert keeps one row per key.
    second_run = latest_extraction(db, schema)
    meltano.meltano(
        "run", "--full-refresh", "tap-ticketlogs", "target-postgres",
        TAP_TICKETLOGS_END_DATE=end_date,
    )  # fmt: skip
    assert row_counts(db, schema) == {stream: truth[stream] for stream in STREAMS}
    for stream in STREAMS:
        assert extracted_after(db, schema, stream, second_run) == truth[stream], stream


def test_stream_maps_and_flattening_through_meltano(
    project: tuple[MeltanoProject, psycopg.Connection[Any]],
) -> None:
    meltano, db = project
    schema = meltano.schema
    stream_maps = {
        "socialboards_ticket_logs": {
            "user": "dict(user, email=md5(user['email'])) if user and user.get('email') else user",
            "actionString": "__NULL__",
        }
    }
    meltano.meltano(
        "run", "tap-ticketlogs", "target-postgres",
        TAP_TICKETLOGS__SELECT=json.dumps(["socialboards_tickets.*", "socialboards_ticket_logs.*"]),
        TAP_TICKETLOGS_STREAM_MAPS=json.dumps(stream_maps),
        TAP_TICKETLOGS_FLATTENING_ENABLED="true",
        TAP_TICKETLOGS_FLATTENING_MAX_DEPTH="1",
    )  # fmt: skip
    counts = row_counts(db, schema)
    assert set(counts) == {"socialboards_tickets", "socialboards_ticket_logs"}
    columns = column_types(db, schema, "socialboards_ticket_logs")
    assert "actionString" not in columns
    assert "user__email" in columns
    assert "user" not in columns

    # The sandbox's teammates write as <first name>@inbox.example.
    known_emails = {
        hashlib.md5(f"{name.split()[0].lower()}@inbox.example".encode()).hexdigest()
        for _, name in TEAM
    }
    hashed = db.execute(
        f'select distinct user__email from "{schema}".socialboards_ticket_logs '
        "where user__email is not null"
    ).fetchall()
    assert hashed
    assert {value for (value,) in hashed} <= known_emails
    assert (
        counts["socialboards_ticket_logs"]
        == meltano.sandbox.stats()["records"]["socialboards_ticket_logs"]
    )


def test_the_same_extraction_lands_through_the_csv_loader(installed: None, tmp_path: Path) -> None:
    with Sandbox(seed=22, records=120) as sandbox:
        env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "MELTANO_ENVIRONMENT": "sandbox",
            "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
            "TAP_TICKETLOGS_SANDBOX_URL": sandbox.base_url,
            "TARGET_CSV_OUTPUT_PATH": str(tmp_path / "csv"),
        }
        result = subprocess.run(
            [MELTANO, "run", "tap-ticketlogs", "target-csv"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        truth = sandbox.stats()["records"]
    loaded = {}
    for path in (tmp_path / "csv").glob("*.csv"):
        with path.open(newline="") as handle:
            loaded[path.stem] = sum(1 for _ in csv.DictReader(handle))
    assert loaded == {stream: truth[stream] for stream in STREAMS}


# The extended field style's own key per stream: every record served carries it.
SERVED_KEYS = {
    "akana_transaction_logs": "TransactionID",
    "huawei_case_operate_logs": "incident_log_id",
    "huawei_cases": "incident_id",
    "socialboards_ticket_logs": "entryId",
    "socialboards_tickets": "id",
    "tixngo_ticket_status_logs": "id",
}
# Per log stream, the field the extended style adds from the middle of its data on.
APPEARING = {
    "akana_transaction_logs": "CacheHit",
    "huawei_case_operate_logs": "attachment_count",
    "socialboards_ticket_logs": "sentimentScore",
    "tixngo_ticket_status_logs": "resalePrice",
}


def loaded_value_matches(served: Any, loaded: Any, column_type: str) -> bool:
    """Whether a value as loaded is the value served (date-times compared as instants)."""
    if served is None or loaded is None:
        return served is None and loaded is None
    if column_type.startswith("timestamp"):
        if isinstance(served, str) and served.isdigit():  # epoch milliseconds
            instant = dt.datetime.fromtimestamp(int(served) / 1000, dt.timezone.utc)
        else:
            instant = parse_datetime(served)
        # Loaded as UTC wall time; a 7th fractional digit does not survive microseconds.
        return abs(parse_datetime(loaded) - instant) <= dt.timedelta(microseconds=1)
    if column_type in ("numeric", "bigint", "integer", "double precision"):
        return decimal.Decimal(str(served)) == decimal.Decimal(str(loaded))
    return bool(served == loaded)


def test_every_field_served_lands_in_postgres_new_fields_mid_run_included(
    installed: None, postgres_dsn: str, tmp_path: Path
) -> None:
    schema = f"e2e_fields_{uuid.uuid4().hex[:8]}"
    with (
        Sandbox(seed=23, records=120, field_style="extended", keep_served=True) as sandbox,
        psycopg.connect(postgres_dsn, autocommit=True) as db,
    ):
        meltano = MeltanoProject(sandbox, tmp_path, schema)
        try:
            # First run: up to a day before the new fields appear.
            middle = min(api.new_field_from for api in sandbox.vendors.values())  # type: ignore[type-var]
            first_end = (middle - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
            meltano.meltano("run", "tap-ticketlogs", "target-postgres",
                            TAP_TICKETLOGS_END_DATE=first_end)  # fmt: skip
            before = {stream: column_types(db, schema, stream) for stream in STREAMS}
            # Second run, from the start (a full refresh: Socialboards' incremental listing
            # skips idle tickets by design): the new fields arrive in the middle of it.
            meltano.meltano("run", "--full-refresh", "tap-ticketlogs", "target-postgres")
            after = {stream: column_types(db, schema, stream) for stream in STREAMS}
            assert rows_without_replication_key(db, schema) == dict.fromkeys(STREAMS, 0)
            rows = {
                stream: [
                    row for (row,) in db.execute(f'select to_jsonb(t) from "{schema}"."{stream}" t')
                ]
                for stream in STREAMS
            }
        finally:
            db.execute(f'drop schema if exists "{schema}" cascade')
        served = sandbox.served()

    for stream, field in APPEARING.items():
        assert field not in before[stream], stream
        assert field in after[stream], stream
        assert set(before[stream]) < set(after[stream])
    for stream in STREAMS:
        key = SERVED_KEYS[stream]
        latest = {str(item[key]): item for item in served[stream]}  # last served version
        served_fields = set().union(*(set(item) for item in latest.values()))
        assert served_fields <= set(after[stream]), served_fields - set(after[stream])
        loaded = {str(row[key]): row for row in rows[stream]}
        assert set(loaded) == set(latest), stream
        for item_key, item in latest.items():
            row = loaded[item_key]
            for name, value in item.items():
                assert loaded_value_matches(value, row[name], after[stream][name]), (
                    stream,
                    item_key,
                    name,
                    value,
                    row[name],
                )


def test_parents_named_by_id_load_whole_rows(
    project: tuple[MeltanoProject, psycopg.Connection[Any]],
) -> None:
    """``socialboards.ticket_ids`` and ``huawei.case_ids`` (the other mode of the sources with
    parents), as a user sets them: the named tickets and cases arrive as whole rows, their
    replication keys filled, with the same values a listing run loads."""
    meltano, db = project
    sandbox, schema = meltano.sandbox, meltano.schema
    huawei = sandbox.vendors["huawei"]
    socialboards = sandbox.vendors["socialboards"]
    case_ids = [case.case_id for case in huawei.cases[:3]]  # type: ignore[attr-defined]
    ticket_ids = list(socialboards.tickets)[:3]  # type: ignore[attr-defined]
    meltano.meltano("run", "tap-ticketlogs", "target-postgres")
    query = f'select incident_id, to_jsonb(t) from "{schema}".huawei_cases t'
    listed = dict(db.execute(query).fetchall())
    for table in STREAMS:
        db.execute(f'drop table "{schema}"."{table}"')
    meltano.meltano(
        "run", "--full-refresh", "tap-ticketlogs", "target-postgres",
        TAP_TICKETLOGS_HUAWEI_CASE_IDS=",".join(case_ids),
        TAP_TICKETLOGS_SOCIALBOARDS_TICKET_IDS=",".join(str(t) for t in ticket_ids),
    )  # fmt: skip
    counts = row_counts(db, schema)
    assert counts["huawei_cases"] == len(case_ids)
    assert counts["socialboards_tickets"] == len(ticket_ids)
    assert rows_without_replication_key(db, schema) == dict.fromkeys(STREAMS, 0)
    cases = dict(db.execute(query).fetchall())
    # The detail page's fields that the list also sends have the list's values.
    for case_id, row in cases.items():
        before = listed[case_id]
        for field in ("status", "create_time", "business_type_name", "customer_id", "dc_name"):
            assert row[field] == before[field], (case_id, field)
