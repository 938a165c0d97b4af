"""A host that never answered is given up on quickly; one that answered is retried fully."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from tap_ticketlogs.errors import SourceAPIError
from tap_ticketlogs.http.policy import HostReachability
from tap_ticketlogs.streams.base import TicketLogsStream
from tap_ticketlogs.streams.run_context import host_reachability, run_context_of
from tap_ticketlogs.tap import TapTicketLogs
from tests.helpers import run_cli

RETRY_LINE = "retry "


def refusing_address() -> str:
    """``127.0.0.1:PORT`` where nothing listens: every connection is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"127.0.0.1:{port}"


def tixngo_config(address: str, **top: Any) -> dict[str, Any]:
    return {
        "start_date": "2026-01-01T00:00:00Z",
        "end_date": "2026-01-02T00:00:00Z",  # one window: one request at a time
        "tixngo": {
            "base_url": f"http://{address}",
            "api_key": "k3y-never-sent",
            "mobile_app_ids": ["app-1"],
        },
        **top,
    }


def test_connection_check_reports_a_refusing_host_at_once(tmp_path: Path) -> None:
    address = refusing_address()
    result = run_cli("--test", config=tixngo_config(address), tmp_path=tmp_path)
    assert result.returncode == 1
    (line,) = [line for line in result.stderr.splitlines() if "tap-ticketlogs: test:" in line]
    assert line.startswith("tap-ticketlogs: test: tixngo: FAILED: TIXNGO")
    assert f"talking to {address}" in line
    assert "no answer from this host since the run started" in line
    assert RETRY_LINE not in result.stderr  # no backoff at all: one attempt


def test_a_run_gives_up_on_a_host_that_never_answered(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Retries of 1-50 ms (conftest); the give-up window shrunk in proportion to 0.2 s.
    monkeypatch.setattr(TicketLogsStream, "never_answered_give_up_seconds", 0.2)
    tap = TapTicketLogs(config=tixngo_config(refusing_address(), max_retries=20))
    with pytest.raises(SourceAPIError, match="no answer from this host since the run started"):
        tap.sync_all()
    retries = [r for r in caplog.records if RETRY_LINE in r.getMessage()]
    assert 0 < len(retries) < 20  # given up by the clock, before the retries ran out


def test_a_host_that_answered_before_is_retried_through_every_attempt(
    caplog: pytest.LogCaptureFixture,
) -> None:
    address = refusing_address()
    tap = TapTicketLogs(config=tixngo_config(address, max_retries=5))
    host_reachability(run_context_of(tap), 0.0).answered(address)  # as after a first page this run
    with pytest.raises(SourceAPIError, match=r"gave up after 6 attempts"):
        tap.sync_all()
    retries = [r for r in caplog.records if RETRY_LINE in r.getMessage()]
    assert len(retries) == 5


def test_reachability_clock_starts_at_the_first_failure() -> None:
    hosts = HostReachability(give_up_after=15.0)
    assert not hosts.gives_up("a:1", now=100.0)
    assert not hosts.gives_up("a:1", now=114.9)
    assert hosts.gives_up("a:1", now=115.0)
    assert not hosts.gives_up("b:1", now=115.0)  # its own clock
    hosts.answered("b:1")
    assert not hosts.gives_up("b:1", now=1_000.0)
    assert not hosts.never_answered("b:1")
