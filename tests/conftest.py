"""Shared fixtures: a sandbox on a free loopback port, fast retries."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tap_ticketlogs.sandbox.server import Sandbox
from tap_ticketlogs.streams.base import TicketLogsStream


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retry delays of milliseconds, so fault tests take no wall time (logic unchanged)."""
    monkeypatch.setattr(TicketLogsStream, "retry_base_seconds", 0.001)
    monkeypatch.setattr(TicketLogsStream, "retry_max_seconds", 0.05)
    monkeypatch.setattr(TicketLogsStream, "retry_after_max_seconds", 0.05)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A fresh sandbox with a few hundred records per stream."""
    with Sandbox(seed=7, records=600) as running:
        yield running


POSTGRES_DSN = os.environ.get(
    "TICKETLOGS_TEST_POSTGRES_DSN",
    "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=5",
)


@pytest.fixture(scope="session")
def postgres_dsn() -> str:
    """The local PostgreSQL; skipped when unreachable, unless under CI where it must run."""
    try:
        with psycopg.connect(POSTGRES_DSN) as connection:
            connection.execute("select 1")
    except psycopg.OperationalError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL on 127.0.0.1:5432 is required under CI: {exc}")
        pytest.skip(f"PostgreSQL on 127.0.0.1:5432 is unreachable: {exc}")
    return POSTGRES_DSN


# The test modules that run Meltano. They share the plugins `meltano install` puts into this
# checkout's .meltano/ (and Meltano's run directory there), so under pytest-xdist they all go
# to one worker, one after the other; every other module is a unit of work of its own.
# (xdist's own `--dist loadgroup` cannot do it on pytest 9: it renames `Item._nodeid`, which
# pytest 9 no longer reads.)
MELTANO_MODULES = frozenset(
    {
        "tests/test_dagster_shards.py",
        "tests/test_meltano_e2e.py",
        "tests/test_meltano_error_level.py",
        "tests/test_meltano_settings.py",
        "tests/test_readme_meltano.py",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A module marked ``meltano`` that is not in MELTANO_MODULES would run beside the
    others under xdist and share their .meltano/: refuse to run, naming it."""
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        if item.get_closest_marker("meltano") and module not in MELTANO_MODULES:
            raise pytest.UsageError(f"{module} runs Meltano: add it to MELTANO_MODULES")


@pytest.hookimpl(optionalhook=True)  # xdist's hook: absent with -p no:xdist
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Whole modules per worker, the Meltano modules all on one (see MELTANO_MODULES)."""
    from xdist.scheduler import LoadScopeScheduling  # noqa: PLC0415 - only under xdist

    class MeltanoModulesTogether(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return "meltano" if module in MELTANO_MODULES else module

    return MeltanoModulesTogether(config, log)
