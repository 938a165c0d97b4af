"""requests_per_second: one rate per source across threads; a 429 slows every thread."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tap_ticketlogs.http.policy import SourceThrottle
from tap_ticketlogs.sandbox.core import Request, Response
from tap_ticketlogs.sandbox.faults import Fault
from tap_ticketlogs.sandbox.server import Sandbox
from tap_ticketlogs.sources.tixngo.sandbox import MOBILE_APPS
from tap_ticketlogs.streams.base import TicketLogsStream
from tap_ticketlogs.tap import TapTicketLogs
from tests.helpers import run_tap, source_config

TIXNGO_LOGS = "GET /organizer/report/ticket-status-logs"
SOCIALBOARDS_LOGS = "POST /tickets/{ticketId}/log"


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_attempts_are_spaced_by_the_rate_and_an_idle_source_banks_no_burst() -> None:
    clock = FakeClock()
    throttle = SourceThrottle(4, clock=clock, sleep=clock.sleep)
    starts = []
    for _ in range(5):
        throttle.acquire()
        starts.append(clock.now)
    assert starts == [100.0, 100.25, 100.5, 100.75, 101.0]
    clock.now += 10  # idle: the next attempt starts at once, the one after waits again
    throttle.acquire()
    throttle.acquire()
    assert clock.now == pytest.approx(111.25)


def test_a_pause_holds_every_attempt_and_no_rate_means_no_wait() -> None:
    clock = FakeClock()
    throttle = SourceThrottle(None, clock=clock, sleep=clock.sleep)
    throttle.acquire()
    throttle.acquire()
    assert clock.sleeps == []
    throttle.pause(2.5)
    throttle.pause(1.0)  # a shorter pause does not shorten the longer one
    throttle.acquire()
    assert clock.now == pytest.approx(102.5)


def most_in_one_second(times: list[float]) -> int:
    times = sorted(times)
    most, first = 0, 0
    for last, when in enumerate(times):
        while when - times[first] >= 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


def served_times(sandbox: Sandbox, label: str) -> list[float]:
    return [entry["at"] for entry in sandbox.request_log if entry["route"] == label]


@pytest.mark.parametrize(
    ("source", "label", "section"),
    [
        ("tixngo", TIXNGO_LOGS, {"page_size": 20, "window_hours": 24}),
        ("socialboards", SOCIALBOARDS_LOGS, {"page_size": 10}),
    ],
)
def test_the_source_rate_holds_across_all_threads(
    source: str, label: str, section: dict[str, Any]
) -> None:
    with Sandbox(seed=4, records=400, vendors=(source,)) as sandbox:
        config = source_config(sandbox, source, **section)
        unlimited = run_tap({**config, "max_concurrency": 8})
        fast = served_times(sandbox, label)
        sandbox.request_log.clear()
        config[source]["requests_per_second"] = 25
        limited = run_tap({**config, "max_concurrency": 8})
        slow = served_times(sandbox, label)
    assert len(limited.messages) == len(unlimited.messages)  # same output, only slower
    assert len(slow) == len(fast) >= 40
    assert most_in_one_second(fast) > 40  # without the limit the threads go much faster
    assert most_in_one_second(slow) <= 26  # 25 per second, +1 for a window's two edges
    assert (len(slow) - 1) / (slow[-1] - slow[0]) <= 25 * 1.05


class OneRateLimit:
    """The 30th request is a 429 with Retry-After: 1 (the sandbox's fault hook)."""

    def __init__(self) -> None:
        self.count = 0

    def fault(self, request: Request) -> Fault | None:
        self.count += 1
        if self.count != 30:
            return None
        return Fault("429", Response.json(429, {"message": "slow down"}, {"Retry-After": "1"}))


def test_a_429_pauses_every_thread_of_the_source(monkeypatch: pytest.MonkeyPatch) -> None:
    # Four threads page through four windows of one source's stream; one 429 is waited
    # out as 0.3 s here. The other threads hold back too: once the requests already in
    # flight are answered (the first 0.1 s), nothing is served until the pause ends;
    # without the shared pause they would make dozens of requests in that time.
    monkeypatch.setattr(TicketLogsStream, "retry_after_max_seconds", 0.3)
    with Sandbox(seed=4, records=4_000, vendors=("tixngo",)) as sandbox:
        sandbox.faults = OneRateLimit()  # type: ignore[assignment]
        config = source_config(sandbox, "tixngo", page_size=5)
        stream = TapTicketLogs(config=config).streams["tixngo_ticket_status_logs"]
        contexts = [
            {"mobile_app_id": app, "window_start": start, "window_end": end}
            for app in MOBILE_APPS
            for start, end in (
                ("2026-01-01T00:00:00Z", "2026-01-16T00:00:00Z"),
                ("2026-01-16T00:00:00Z", "2026-02-01T00:00:00Z"),
            )
        ][:4]
        with ThreadPoolExecutor(4) as pool:
            counts = list(pool.map(lambda ctx: len(list(stream.request_records(ctx))), contexts))
        log = [(entry["at"], entry["status"]) for entry in sandbox.request_log]
    assert sum(counts) > 2_000
    [limited] = [when for when, status in log if status == 429]
    during_pause = [t for t, _ in log if limited + 0.1 < t < limited + 0.25]
    assert len(during_pause) <= 2, "threads kept sending while the source was paused"
    assert [t for t, _ in log if t > limited + 0.25]  # and went on after it
