"""Shared fixtures: a sandbox on a free loopback port, fast retries."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tap_ticketlogs.client import TicketLogsStream
from tap_ticketlogs.sandbox.server import Sandbox


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retry delays of milliseconds, so fault tests take no wall time (logic unchanged)."""
    monkeypatch.setattr(TicketLogsStream, "retry_base_seconds", 0.001)
    monkeypatch.setattr(TicketLogsStream, "retry_max_seconds", 0.05)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A fresh sandbox with a few hundred records per stream."""
    with Sandbox(seed=7, records=600) as running:
        yield running
