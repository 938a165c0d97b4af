"""The Dagster definitions without Meltano: the plan, each shard's command and environment."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import uuid
from collections import Counter
from pathlib import Path

import dagster as dg
import pytest

from orchestration.dagster_defs import (
    JOB,
    ShardPlan,
    ShardTask,
    defs,
    deselected_streams,
    meltano_command,
    plan_shards,
    schema_messages,
    shard_environment,
    shard_lock,
    shard_metadata,
    shards_schedule,
)
from tap_ticketlogs.sandbox.server import Sandbox
from tests.helpers import TapOutput, run_cli


def task(
    project: Path, index: int = 1, count: int = 3, extractor: str = "tap-ticketlogs"
) -> ShardTask:
    return ShardTask(
        index=index,
        count=count,
        extractor=extractor,
        loader="target-postgres",
        environment="prod",
        project_dir=str(project),
        meltano="meltano",
        timeout_minutes=5,
    )


def test_each_shard_runs_its_own_state_id(tmp_path: Path) -> None:
    assert task(tmp_path).command() == [
        "meltano",
        "--environment=prod",
        "run",
        "--force",
        "--state-id-suffix",
        "shard-1-of-3",
        "tap-ticketlogs",
        "target-postgres",
    ]


def test_shards_on_one_machine_get_a_system_directory_each(tmp_path: Path) -> None:
    sys_dir = tmp_path / ".meltano"
    (sys_dir / "loaders" / "target-postgres").mkdir(parents=True)
    (sys_dir / "extractors").mkdir()
    (sys_dir / "run" / "tap-ticketlogs").mkdir(parents=True)
    env = shard_environment(task(tmp_path), {"HOME": "/root"})
    own = Path(env["MELTANO_SYS_DIR_ROOT"])
    assert own == sys_dir.resolve() / "shards" / "shard-1-of-3"
    # Installed plugins are shared; run/ (catalog, input state) is the shard's own.
    assert (own / "loaders").resolve() == (sys_dir / "loaders").resolve()
    assert (own / "extractors").is_symlink()
    assert not (own / "run").exists()
    assert env["MELTANO_DATABASE_URI"] == f"sqlite:///{sys_dir.resolve() / 'meltano.db'}"
    assert env["TAP_TICKETLOGS_SHARD_INDEX"] == "1"
    assert env["TAP_TICKETLOGS_SHARD_COUNT"] == "3"
    assert env["HOME"] == "/root"
    # A second attempt of the same shard reuses its directory.
    uri = "postgresql+psycopg://meltano@db/meltano"
    again = shard_environment(task(tmp_path), {"MELTANO_DATABASE_URI": uri})
    assert again["MELTANO_SYS_DIR_ROOT"] == str(own)
    assert again["MELTANO_DATABASE_URI"] == uri


def test_a_plan_without_shards_fails_without_retrying(tmp_path: Path) -> None:
    context = dg.build_op_context()
    with pytest.raises(dg.Failure, match="shard_count must be at least 1, not 0"):
        list(plan_shards(context, ShardPlan(shard_count=0, project_dir=str(tmp_path))))


def test_the_definitions_load_with_the_job_and_its_schedule() -> None:
    assert defs.resolve_job_def("ticketlogs_shards") is JOB
    assert shards_schedule.job is JOB
    run_shard = JOB.graph.node_named("run_shard").definition
    assert run_shard.retry_policy is not None
    assert run_shard.retry_policy.max_retries == 2


def test_only_the_selected_streams_schemas_reach_the_loader() -> None:
    def entry(stream: str, **metadata: bool) -> dict[str, object]:
        return {"tap_stream_id": stream, "metadata": [{"breadcrumb": [], "metadata": metadata}]}

    catalog = {
        "streams": [
            entry("picked", selected=True),
            entry("default", **{"selected-by-default": True}),
            entry("dropped", selected=False, **{"selected-by-default": True}),
            entry("never"),
        ]
    }
    assert deselected_streams(catalog) == {"dropped", "never"}

    def schema(stream: str) -> str:
        return json.dumps({"type": "SCHEMA", "stream": stream, "schema": {}, "key_properties": []})

    output = "\n".join(
        [schema("picked"), "not a message", schema("dropped"), schema("renamed_by_a_map")]
    )
    kept = schema_messages(output, deselected_streams(catalog))
    assert kept == f"{schema('picked')}\n{schema('renamed_by_a_map')}\n"


# Logins are made by the authenticators, outside the streams' request counts.
LOGINS = {"POST /token", "POST /api/login", "POST /v3/auth/tokens"}


def test_a_shards_metadata_counts_what_its_run_emitted(tmp_path: Path) -> None:
    """The metadata of a shard's step, read from a real run's log: the records of each
    stream are those the tap wrote, the requests those the sandbox served."""
    with Sandbox(seed=12, records=300) as sandbox:
        result = run_cli(
            config={**sandbox.tap_config(), "shard_count": 2, "shard_index": 1}, tmp_path=tmp_path
        )
        served = sum(
            count
            for path, statuses in sandbox.stats()["requests"].items()
            if path not in LOGINS
            for count in statuses.values()
        )
    assert result.returncode == 0, result.stderr
    output = TapOutput.parse(result.stdout)
    emitted = Counter(m["stream"] for m in output.messages if m["type"] == "RECORD")
    assert len(emitted) == 6

    metadata = shard_metadata(result.stderr, 12.345)

    assert {name: metadata[f"{name} records"].value for name in emitted} == emitted
    assert metadata["records"].value == sum(emitted.values())
    assert metadata["requests"].value == served
    assert metadata["retries"].value == 0
    assert metadata["seconds"].value == 12.3
    table = str(metadata["streams"].value).splitlines()
    assert table[0] == "| stream | records | requests | retries | pages | partitions | s |"
    assert len(table) == 2 + len(emitted)
    assert table[2].startswith(f"| akana_transaction_logs | {emitted['akana_transaction_logs']} |")


@pytest.fixture(params=["postgresql", "sqlite"])
def system_database(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """The environment of a shard whose Meltano system database is PostgreSQL or SQLite."""
    if request.param == "postgresql":
        request.getfixturevalue("postgres_dsn")
        uri = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    else:
        uri = f"sqlite:///{tmp_path / 'meltano.db'}"
    return {"MELTANO_DATABASE_URI": uri}


def lock_test_task(tmp_path: Path) -> ShardTask:
    # A lock name of its own: tests running at once on one server must not share a lock.
    return task(tmp_path, extractor=f"tap-{uuid.uuid4().hex[:8]}")


def test_one_attempt_of_a_shard_holds_its_lock_at_a_time(
    system_database: dict[str, str], tmp_path: Path
) -> None:
    shard = lock_test_task(tmp_path)
    env = shard_environment(shard, system_database)
    with shard_lock(shard, env):
        with pytest.raises(dg.Failure) as refused, shard_lock(shard, env):
            pytest.fail("a second attempt took the lock")
        assert refused.value.description == (
            "shard-1-of-3: another attempt of this shard is running"
            " (it holds the shard's lock); not starting a second one"
        )
        # Another shard of the same job is not held back.
        other = ShardTask(**{**shard.__dict__, "index": 2})
        with shard_lock(other, shard_environment(other, system_database)):
            pass
    with shard_lock(shard, env):
        pass


def test_an_unreachable_system_database_is_one_line(tmp_path: Path) -> None:
    shard = lock_test_task(tmp_path)
    env = shard_environment(
        shard, {"MELTANO_DATABASE_URI": "postgresql+psycopg://meltano:s3cret@127.0.0.1:1/meltano"}
    )
    with pytest.raises(dg.Failure) as failed, shard_lock(shard, env):
        pytest.fail("locked without a database")
    description = failed.value.description or ""
    assert description.startswith(
        "shard-1-of-3: cannot take the shard's lock in Meltano's system database: "
    ), description
    assert "\n" not in description
    assert "s3cret" not in description


def test_a_killed_attempts_lock_is_free_for_the_next(
    system_database: dict[str, str], tmp_path: Path
) -> None:
    shard = lock_test_task(tmp_path)
    env = shard_environment(shard, system_database)
    holder = textwrap.dedent(
        f"""
        import time
        from orchestration.dagster_defs import ShardTask, shard_lock
        with shard_lock(ShardTask(**{shard.__dict__!r}), {env!r}):
            print("held", flush=True)
            time.sleep(120)
        """
    )
    with subprocess.Popen(
        [sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stdout is not None
            assert process.stdout.readline() == "held\n"
            with (
                pytest.raises(dg.Failure, match="another attempt of this shard is running"),
                shard_lock(shard, env),
            ):
                pytest.fail("the lock was taken while its holder ran")
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
    with shard_lock(shard, env):
        pass


def test_meltano_runs_in_a_process_group_of_its_own(tmp_path: Path) -> None:
    """So that a kill of the group (OOM killer, preemption) takes meltano, the tap and the
    loader together, and a timeout or an interrupted op stops all three."""
    probe = "import os; print(os.getpgid(0) == os.getpid(), os.getsid(0) == os.getpid())"
    output = meltano_command(
        [sys.executable, "-c", probe],
        cwd=str(tmp_path),
        env={},
        timeout_minutes=1,
        what="probe",
    ).stdout
    assert output == "True True\n"
