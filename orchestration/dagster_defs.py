"""Dagster: the tap's shards as parallel ops, each one ``meltano run`` of its own shard.

    pip install -e '.[dagster]' && meltano install
    dagster dev -m orchestration.dagster_defs          # UI on :3000, schedule included

``plan_shards`` migrates Meltano's system database, has the loader create its schema and tables
(``prepare_loader``), then fans out one ``run_shard`` op per shard (``shard_count`` in the run
config); each runs, in the Meltano project directory,

    meltano [--environment=ENV] run --state-id-suffix shard-<i>-of-<n> tap-ticketlogs LOADER

with ``TAP_TICKETLOGS_SHARD_INDEX``/``TAP_TICKETLOGS_SHARD_COUNT`` set, so each shard reads
only its partitions and keeps its own state id in Meltano's system database (PostgreSQL,
``MELTANO_DATABASE_URI``, shared by every worker). A failed shard is retried alone
(``RetryPolicy``: 5 s, then 15 s after its failures): it resumes from its own state, and no
other shard runs again. Each shard's step carries what it loaded as metadata
(``shard_metadata``: records per stream, requests, retries, time), which the Dagster UI shows
per shard.

Each ``run_shard`` holds its shard's lock (:func:`shard_lock`) for the whole ``meltano run``,
which runs in a process group of its own, so that a killed run (OOM killer, preemption) dies
whole and the attempt after it starts at once, with ``--force``, instead of being refused for
the five minutes Meltano takes to call the dead run's job record stale.

Everything else the shards need comes from the worker's environment, never from run config
(which Dagster stores and shows): the loader's credentials, the sources' secrets
(``TAP_TICKETLOGS_TIXNGO_API_KEY``...), ``MELTANO_DATABASE_URI``, ``MELTANO_ENVIRONMENT``.

Locally the job runs on Dagster's multiprocess executor (one process per shard). On
Kubernetes, build ``ticketlogs_shards_job(k8s_job_executor)`` (``dagster-k8s``) instead: the
one change, see the README.
"""

# No `from __future__ import annotations`: Dagster reads the ops' annotations at definition.
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import filelock
import sqlalchemy

PROJECT_DIR = Path(__file__).resolve().parent.parent
# A failure's last lines of meltano's output go to the op's error; more would bury the cause.
_TAIL_LINES = 20
# What each shard keeps to itself inside Meltano's system directory (everything else there,
# the installed plugins, is shared).
_PER_SHARD_DIRS = frozenset({"run", "logs", "shards"})
# How long meltano has to stop on SIGTERM (the tap writes its state, meltano saves it) before
# its process group is killed.
_STOP_GRACE_SECONDS = 30
# TCP keepalives of the lock's PostgreSQL session, set on the server's side: when a worker
# vanishes without closing its connection (a lost node), the server drops the session, and
# with it the shard's lock, within about 20 s instead of the system's default two hours.
_LOCK_KEEPALIVES = {
    "tcp_keepalives_idle": "5",
    "tcp_keepalives_interval": "5",
    "tcp_keepalives_count": "3",
}


def default_meltano() -> str:
    """The ``meltano`` installed beside this interpreter, else the one on PATH."""
    beside = Path(sys.executable).with_name("meltano")
    return str(beside) if beside.exists() else "meltano"


class ShardPlan(dg.Config):
    """What one scheduled extraction runs: how many shards, of which Meltano pipeline."""

    shard_count: int = 3
    extractor: str = "tap-ticketlogs"
    loader: str = "target-postgres"
    #: Meltano environment (``--environment``); empty: MELTANO_ENVIRONMENT or the default.
    environment: str = ""
    #: The Meltano project (the directory holding meltano.yml) on the worker.
    project_dir: str = str(PROJECT_DIR)
    #: The ``meltano`` command; empty: the one beside the worker's Python, else on PATH.
    meltano: str = ""
    timeout_minutes: int = 360
    #: Before the shards start, have the loader create its schema and tables once (see
    #: ``prepare_loader``). Off: for a loader whose schema depends on the extractor
    #: (``$MELTANO_EXTRACT__LOAD_SCHEMA``), which ``meltano invoke`` does not set.
    prepare_tables: bool = True


@dataclass(frozen=True)
class ShardTask:
    """One shard's job: what ``run_shard`` needs, passed from ``plan_shards``."""

    index: int
    count: int
    extractor: str
    loader: str
    environment: str
    project_dir: str
    meltano: str
    timeout_minutes: int

    @property
    def suffix(self) -> str:
        return f"shard-{self.index}-of-{self.count}"

    @property
    def lock_name(self) -> str:
        """What :func:`shard_lock` locks: the shard's state id without its environment
        prefix, so that one lock covers the shard however its environment is named."""
        return f"{self.extractor}-to-{self.loader}:{self.suffix}"

    def command(self) -> list[str]:
        """The shard's ``meltano run``, to be run under :func:`shard_lock` only: ``--force``
        skips Meltano's check for a job of the same state id still "running", which the lock
        makes (see ``run_shard``)."""
        environment = [f"--environment={self.environment}"] if self.environment else []
        return [
            self.meltano,
            *environment,
            "run",
            "--force",
            "--state-id-suffix",
            self.suffix,
            self.extractor,
            self.loader,
        ]


def isolated_environment(project_dir: str, name: str, base: Mapping[str, str]) -> dict[str, str]:
    """An environment whose Meltano system directory is ``name``'s own, sharing the plugins.

    Meltano keeps a run's catalog and its input state in ``<sys dir>/run/<plugin>/``: shards
    sharing one project directory would overwrite each other's (and a shard could start from
    another's state). Each gets a system directory of its own whose installed plugins are
    links to the project's, and they all share one system database.
    """
    project_sys_dir = Path(
        base.get("MELTANO_SYS_DIR_ROOT") or Path(project_dir, ".meltano")
    ).resolve()
    own_sys_dir = project_sys_dir / "shards" / name
    own_sys_dir.mkdir(parents=True, exist_ok=True)
    for installed in project_sys_dir.iterdir():
        if installed.is_dir() and installed.name not in _PER_SHARD_DIRS:
            link = own_sys_dir / installed.name
            if not link.is_symlink():
                link.symlink_to(installed, target_is_directory=True)
    return {
        **base,
        "MELTANO_SYS_DIR_ROOT": str(own_sys_dir),
        "MELTANO_DATABASE_URI": base.get("MELTANO_DATABASE_URI")
        or f"sqlite:///{project_sys_dir / 'meltano.db'}",
    }


def shard_environment(task: ShardTask, base: Mapping[str, str]) -> dict[str, str]:
    """The environment of one shard's ``meltano run``: its own system directory
    (:func:`isolated_environment`) and its shard settings."""
    return {
        **isolated_environment(task.project_dir, task.suffix, base),
        "TAP_TICKETLOGS_SHARD_INDEX": str(task.index),
        "TAP_TICKETLOGS_SHARD_COUNT": str(task.count),
    }


def deselected_streams(catalog: Mapping[str, Any]) -> set[str]:
    """The streams of a Singer catalog its metadata leaves unselected."""
    deselected = set()
    for entry in catalog.get("streams", []):
        for item in entry.get("metadata", []):
            if item.get("breadcrumb") == []:
                stream_metadata = item.get("metadata", {})
                if not stream_metadata.get("selected", stream_metadata.get("selected-by-default")):
                    deselected.add(entry["tap_stream_id"])
    return deselected


def schema_messages(tap_output: str, deselected: set[str]) -> str:
    """The SCHEMA lines of a tap's output, but those of deselected streams."""
    kept = []
    for line in tap_output.splitlines():
        message = json.loads(line) if line.startswith("{") else {}
        if message.get("type") == "SCHEMA" and message.get("stream") not in deselected:
            kept.append(line)
    return "".join(f"{line}\n" for line in kept)


@dataclass(frozen=True)
class ShardResult:
    """A shard that finished: its state id suffix and how long ``meltano run`` took."""

    shard: str
    seconds: float


def meltano_command(
    command: list[str],
    *,
    cwd: str,
    env: dict[str, str],
    timeout_minutes: int,
    what: str,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run one meltano command and return what it printed, or raise a
    :class:`dagster.Failure` with the tail of it.

    Meltano runs in a session (and process group) of its own, with the tap and the loader it
    starts: a timeout or an interrupted op stops all of them, not meltano alone, and an OOM
    killer or a preemption that kills the group is seen here as meltano's exit.
    """
    process = subprocess.Popen(  # noqa: S603 - the configured meltano, no shell
        command,
        cwd=cwd,
        env=env,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(stdin, timeout=timeout_minutes * 60)
    except subprocess.TimeoutExpired:
        stop_process_group(process)
        msg = f"{what}: meltano took longer than {timeout_minutes} minutes"
        raise dg.Failure(description=msg) from None
    except BaseException:
        stop_process_group(process)
        raise
    if process.returncode != 0:
        tail = "\n".join((stderr or stdout or "").splitlines()[-_TAIL_LINES:])
        msg = f"{what}: {' '.join(command[1:])} exited {process.returncode}"
        raise dg.Failure(description=f"{msg}\n{tail}", metadata={"exit code": process.returncode})
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def stop_process_group(process: subprocess.Popen[str]) -> None:
    """SIGTERM the group ``process`` leads, then SIGKILL it if it outlives the grace period."""
    for stop, grace in ((signal.SIGTERM, _STOP_GRACE_SECONDS), (signal.SIGKILL, None)):
        with suppress(ProcessLookupError):
            os.killpg(process.pid, stop)
        try:
            process.communicate(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
        return


@contextmanager
def shard_lock(task: ShardTask, env: Mapping[str, str]) -> Iterator[None]:
    """Hold ``task``'s shard lock while the block runs, or raise a :class:`dagster.Failure`
    at once if another attempt holds it.

    With Meltano's system database in PostgreSQL, a session-level advisory lock in that
    database: every worker of any machine sees it, and the server releases it when the
    holder's connection drops (its process died, or its node: see ``_LOCK_KEEPALIVES``).
    Otherwise (SQLite: one machine), a file lock in the shard's own system directory
    (:func:`shard_environment`), which the kernel releases when its holder dies.
    """
    held_elsewhere = dg.Failure(
        description=f"{task.suffix}: another attempt of this shard is running"
        " (it holds the shard's lock); not starting a second one"
    )
    url = sqlalchemy.make_url(env["MELTANO_DATABASE_URI"])
    if url.get_backend_name() == "postgresql":
        key = int.from_bytes(hashlib.sha256(task.lock_name.encode()).digest()[:8], signed=True)
        engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.NullPool)
        try:
            # Autocommit: a session idle in a transaction for hours holds back vacuum, and
            # `idle_in_transaction_session_timeout` would end it, and the lock with it.
            session = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            for name, value in _LOCK_KEEPALIVES.items():
                session.execute(
                    sqlalchemy.text("select set_config(:name, :value, false)"),
                    {"name": name, "value": value},
                )
            taken = session.execute(
                sqlalchemy.text("select pg_try_advisory_lock(:key)"), {"key": key}
            ).scalar_one()
        except sqlalchemy.exc.SQLAlchemyError as exc:
            engine.dispose()
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            msg = f"{task.suffix}: cannot take the shard's lock in Meltano's system database"
            raise dg.Failure(description=f"{msg}: {reason}") from None
        try:
            if not taken:
                raise held_elsewhere
            yield
        finally:
            # Closing the session releases the lock.
            session.close()
            engine.dispose()
        return
    try:
        with filelock.FileLock(Path(env["MELTANO_SYS_DIR_ROOT"], "attempt.lock"), timeout=0):
            yield
    except filelock.Timeout:
        raise held_elsewhere from None


def prepare_loader(config: ShardPlan, meltano: str) -> int:
    """Have the loader create its schema and the selected streams' tables, once.

    target-postgres (like the SDK's SQL loaders in general) creates a schema, a table or a
    column by looking first and creating second. Shards starting together on a new schema
    race, and all but one die on ``duplicate key value violates unique constraint
    "pg_namespace_nspname_index"`` (or the same on ``pg_type``), then re-read what they had
    extracted when retried. Here, before any shard starts, the tap's SCHEMA messages alone
    (``--test=schema``: no record is requested, no STATE written; the catalog Meltano
    discovered, so its sampled fields too) go to the loader, which creates what is missing.
    Returns how many streams it prepared.
    """
    env = isolated_environment(config.project_dir, "prepare", os.environ)
    environment = [f"--environment={config.environment}"] if config.environment else []

    def invoke(*args: str, what: str, stdin: str | None = None) -> str:
        return meltano_command(
            [meltano, *environment, "invoke", *args],
            cwd=config.project_dir,
            env=env,
            timeout_minutes=config.timeout_minutes,
            what=f"prepare ({what})",
            stdin=stdin,
        ).stdout

    catalog = json.loads(invoke("--dump=catalog", config.extractor, what="catalog"))
    schemas = schema_messages(
        invoke(config.extractor, "--test=schema", what="schemas"), deselected_streams(catalog)
    )
    invoke(config.loader, what="loader", stdin=schemas)
    return schemas.count("\n")


@dg.op(out=dg.DynamicOut(ShardTask))
def plan_shards(
    context: dg.OpExecutionContext, config: ShardPlan
) -> Iterator[dg.DynamicOutput[ShardTask]]:
    """Bring Meltano's system database and the loader's tables up to date, then one task
    per shard.

    Shards started together on a new system database would all run its migrations at once,
    and all but one fail; on a new schema, all create its tables at once (``prepare_loader``).
    Here both are done once, before any shard starts.
    """
    if config.shard_count < 1:
        msg = f"shard_count must be at least 1, not {config.shard_count}"
        raise dg.Failure(description=msg, allow_retries=False)
    meltano = config.meltano or default_meltano()
    meltano_command(
        [meltano, "upgrade", "database"],
        cwd=config.project_dir,
        env=dict(os.environ),
        timeout_minutes=config.timeout_minutes,
        what="system database",
    )
    if config.prepare_tables and config.shard_count > 1:
        prepared = prepare_loader(config, meltano)
        context.log.info(f"{config.loader}: schema and tables of {prepared} stream(s) ready")
    context.log.info(f"{config.shard_count} shard(s) of {config.extractor} -> {config.loader}")
    for index in range(config.shard_count):
        task = ShardTask(
            index=index,
            count=config.shard_count,
            extractor=config.extractor,
            loader=config.loader,
            environment=config.environment,
            project_dir=config.project_dir,
            meltano=meltano,
            timeout_minutes=config.timeout_minutes,
        )
        yield dg.DynamicOutput(task, mapping_key=task.suffix.replace("-", "_"))


# The tap already retries requests; a shard that still fails (a killed pod, a lost worker)
# is retried twice more, 5 s after its first failure and 15 s after its second (Dagster's
# exponential backoff: delay * (2**n - 1)), and resumes from its own state.
@dg.op(retry_policy=dg.RetryPolicy(max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL))
def run_shard(context: dg.OpExecutionContext, task: ShardTask) -> ShardResult:
    """``meltano run`` of one shard under its lock; a failure fails (and retries) this op only.

    ``--force`` whenever the lock is held, first attempts included: the lock, not the retry
    number, is what proves a job record of this state id still "running" is dead (a killed
    run, or a re-executed run's, or a lost node's), since every attempt of every run of this
    job takes it. A ``meltano run`` of the shard's state id started outside this job takes no
    lock, so it is not protected: don't run a shard by hand while the job may run it.
    """
    env = shard_environment(task, os.environ)
    with shard_lock(task, env):
        context.log.info(f"{task.suffix}: {' '.join(task.command())}")
        started = time.monotonic()
        run = meltano_command(
            task.command(),
            cwd=task.project_dir,
            env=env,
            timeout_minutes=task.timeout_minutes,
            what=task.suffix,
        )
        seconds = time.monotonic() - started
    context.log.info(f"{task.suffix}: done in {seconds:.1f} s")
    context.add_output_metadata(shard_metadata(run.stderr, seconds))
    return ShardResult(task.suffix, round(seconds, 1))


# The tap's summary line of a stream, wherever Meltano's log format puts it on the line.
_SUMMARY = re.compile(
    r"summary (?P<stream>\w+): (?P<records>\d+) records, (?P<requests>\d+) requests, "
    r"(?P<retries>\d+) retries, (?P<pages>\d+) pages, (?P<partitions>\d+) partitions, "
    r"(?P<seconds>[\d.]+) s"
)
_SUMMARY_COUNTS = ("records", "requests", "retries", "pages", "partitions")


def shard_metadata(meltano_log: str, seconds: float) -> dict[str, dg.MetadataValue]:
    """What a shard's run did, from the tap's summary lines in ``meltano run``'s log: the
    records of every stream that ran, the requests and retries, and the time it took; the
    Dagster UI shows them on the shard's step."""
    streams = {m["stream"]: m.groupdict() for m in _SUMMARY.finditer(meltano_log)}
    table = [
        "| stream | " + " | ".join(_SUMMARY_COUNTS) + " | s |",
        "|---" * (len(_SUMMARY_COUNTS) + 2) + "|",
        *(
            f"| {name} | " + " | ".join(counts[key] for key in (*_SUMMARY_COUNTS, "seconds")) + " |"
            for name, counts in sorted(streams.items())
        ),
    ]

    def total(count: str) -> dg.MetadataValue:
        return dg.MetadataValue.int(sum(int(counts[count]) for counts in streams.values()))

    return {
        "records": total("records"),
        "requests": total("requests"),
        "retries": total("retries"),
        "seconds": dg.MetadataValue.float(round(seconds, 1)),
        **{
            f"{name} records": dg.MetadataValue.int(int(counts["records"]))
            for name, counts in sorted(streams.items())
        },
        "streams": dg.MetadataValue.md("\n".join(table)),
    }


@dg.op
def report_shards(context: dg.OpExecutionContext, runs: list[ShardResult]) -> None:
    """One line once every shard has finished."""
    slowest = max(run.seconds for run in runs)
    context.log.info(f"{len(runs)} shard(s) done; the slowest took {slowest:.1f} s")


# Locally: one process per shard, every shard at once (up to 32; the executor's default is
# one per CPU, and shards mostly wait on the network), forked from a server that has already
# imported Dagster and this module, so a shard's process starts without paying for imports.
LOCAL_EXECUTOR = dg.multiprocess_executor.configured(
    {"max_concurrent": 32, "start_method": {"forkserver": {}}}, name="local_shards"
)


def ticketlogs_shards_job(executor: dg.ExecutorDefinition = LOCAL_EXECUTOR) -> dg.JobDefinition:
    """The sharded extraction as a job on ``executor`` (one process, pod or worker per op)."""

    @dg.job(name="ticketlogs_shards", executor_def=executor)
    def ticketlogs_shards() -> None:
        report_shards(plan_shards().map(run_shard).collect())

    return ticketlogs_shards


JOB = ticketlogs_shards_job()


def ticketlogs_shards() -> dg.JobDefinition:
    """The job on the multiprocess executor; at module scope, so that each step's process
    rebuilds it (``dagster.reconstructable(ticketlogs_shards)``)."""
    return JOB


def shards_run_config(shard_count: int, **plan: str | int) -> dict[str, Any]:
    """Run config for ``shard_count`` shards (and any other ``ShardPlan`` field)."""
    return {"ops": {"plan_shards": {"config": {"shard_count": shard_count, **plan}}}}


shards_schedule = dg.ScheduleDefinition(
    name="ticketlogs_shards_hourly",
    job=JOB,
    cron_schedule=os.environ.get("TICKETLOGS_SHARDS_CRON", "15 * * * *"),
    run_config=shards_run_config(int(os.environ.get("TICKETLOGS_SHARD_COUNT", "3"))),
)

defs = dg.Definitions(jobs=[JOB], schedules=[shards_schedule])
