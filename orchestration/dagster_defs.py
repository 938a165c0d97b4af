"""Dagster: the tap's shards as parallel ops, each one ``meltano run`` of its own shard.

    pip install -e '.[dagster]' && meltano install
    dagster dev -m orchestration.dagster_defs          # UI on :3000, schedule included

``plan_shards`` fans out one ``run_shard`` op per shard (``shard_count`` in the run config);
each runs, in the Meltano project directory,

    meltano [--environment=ENV] run --state-id-suffix shard-<i>-of-<n> tap-ticketlogs LOADER

with ``TAP_TICKETLOGS_SHARD_INDEX``/``TAP_TICKETLOGS_SHARD_COUNT`` set, so each shard reads
only its partitions and keeps its own state id in Meltano's system database (PostgreSQL,
``MELTANO_DATABASE_URI``, shared by every worker). A failed shard is retried alone
(``RetryPolicy``): it resumes from its own state, and no other shard runs again.

Everything else the shards need comes from the worker's environment, never from run config
(which Dagster stores and shows): the loader's credentials, the sources' secrets
(``TAP_TICKETLOGS_TIXNGO_API_KEY``...), ``MELTANO_DATABASE_URI``, ``MELTANO_ENVIRONMENT``.

Locally the job runs on Dagster's multiprocess executor (one process per shard). On
Kubernetes, build ``ticketlogs_shards_job(k8s_job_executor)`` (``dagster-k8s``) instead: the
one change, see the README.
"""

# No `from __future__ import annotations`: Dagster reads the ops' annotations at definition.
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

PROJECT_DIR = Path(__file__).resolve().parent.parent
# A failure's last lines of meltano's output go to the op's error; more would bury the cause.
_TAIL_LINES = 20
# What each shard keeps to itself inside Meltano's system directory (everything else there,
# the installed plugins, is shared).
_PER_SHARD_DIRS = frozenset({"run", "logs", "shards"})


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

    def command(self) -> list[str]:
        environment = [f"--environment={self.environment}"] if self.environment else []
        return [
            self.meltano,
            *environment,
            "run",
            "--state-id-suffix",
            self.suffix,
            self.extractor,
            self.loader,
        ]


def shard_environment(task: ShardTask, base: Mapping[str, str]) -> dict[str, str]:
    """The environment of one shard's ``meltano run``.

    Meltano keeps a run's catalog and its input state in ``<sys dir>/run/<plugin>/``: shards
    sharing one project directory would overwrite each other's (and a shard could start from
    another's state). Each shard gets a system directory of its own whose installed plugins
    are links to the project's, and they all share one system database.
    """
    project_sys_dir = Path(
        base.get("MELTANO_SYS_DIR_ROOT") or Path(task.project_dir, ".meltano")
    ).resolve()
    shard_sys_dir = project_sys_dir / "shards" / task.suffix
    shard_sys_dir.mkdir(parents=True, exist_ok=True)
    for installed in project_sys_dir.iterdir():
        if installed.is_dir() and installed.name not in _PER_SHARD_DIRS:
            link = shard_sys_dir / installed.name
            if not link.is_symlink():
                link.symlink_to(installed, target_is_directory=True)
    return {
        **base,
        "MELTANO_SYS_DIR_ROOT": str(shard_sys_dir),
        "MELTANO_DATABASE_URI": base.get("MELTANO_DATABASE_URI")
        or f"sqlite:///{project_sys_dir / 'meltano.db'}",
        "TAP_TICKETLOGS_SHARD_INDEX": str(task.index),
        "TAP_TICKETLOGS_SHARD_COUNT": str(task.count),
    }


@dataclass(frozen=True)
class ShardResult:
    """A shard that finished: its state id suffix and how long ``meltano run`` took."""

    shard: str
    seconds: float


def meltano_command(
    command: list[str], *, cwd: str, env: dict[str, str], timeout_minutes: int, what: str
) -> float:
    """Run one meltano command; seconds taken, or a :class:`dagster.Failure` with its tail."""
    started = time.monotonic()
    try:
        result = subprocess.run(  # noqa: S603 - the configured meltano, no shell
            command,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_minutes * 60,
            check=False,
        )
    except subprocess.TimeoutExpired:
        msg = f"{what}: meltano took longer than {timeout_minutes} minutes"
        raise dg.Failure(description=msg) from None
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout or "").splitlines()[-_TAIL_LINES:])
        msg = f"{what}: {' '.join(command[1:])} exited {result.returncode}"
        raise dg.Failure(description=f"{msg}\n{tail}", metadata={"exit code": result.returncode})
    return time.monotonic() - started


@dg.op(out=dg.DynamicOut(ShardTask))
def plan_shards(
    context: dg.OpExecutionContext, config: ShardPlan
) -> Iterator[dg.DynamicOutput[ShardTask]]:
    """Bring Meltano's system database up to date, then one task per shard.

    Shards started together on a new system database would all run its migrations at once,
    and all but one fail; here it is migrated once, before any shard starts.
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
# is retried twice more, 5 s then 10 s later, and resumes from its own state.
@dg.op(retry_policy=dg.RetryPolicy(max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL))
def run_shard(context: dg.OpExecutionContext, task: ShardTask) -> ShardResult:
    """``meltano run`` of one shard; a failure fails (and retries) this op only."""
    env = shard_environment(task, os.environ)
    context.log.info(f"{task.suffix}: {' '.join(task.command())}")
    seconds = meltano_command(
        task.command(),
        cwd=task.project_dir,
        env=env,
        timeout_minutes=task.timeout_minutes,
        what=task.suffix,
    )
    context.log.info(f"{task.suffix}: done in {seconds:.1f} s")
    return ShardResult(task.suffix, round(seconds, 1))


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
