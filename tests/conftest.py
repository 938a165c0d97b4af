"""Shared fixtures: a sandbox on a free loopback port, fast retries."""

from __future__ import annotations

import os
from collections.abc import Iterator

import psycopg
import pytest

from tap_ticketlogs.client import TicketLogsStream
from tap_ticketlogs.sandbox.server import Sandbox


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
