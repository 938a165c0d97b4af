"""Long runs say how far they are: progress lines against the sandbox, with latency so that
a run lasts long enough for several lines at a shortened interval."""

from __future__ import annotations

import datetime as dt
import logging
import re

import pytest

from tap_ticketlogs.sandbox.server import Sandbox
from tap_ticketlogs.streams import run_stats
from tap_ticketlogs.timeutil import parse_datetime
from tests.helpers import run_tap, source_config

WINDOWS = re.compile(r"progress tixngo_ticket_status_logs: (\d+)/(\d+) windows \([\d.]+ %\)")
DATA_TIME = re.compile(r", data to (\S+),")
UNKNOWN_TOTAL = "so far (total not known yet)"
NO_ESTIMATE = "time left not known yet"
ESTIMATE = re.compile(r"about (\d+ s|\d+ min|\d+ h \d+ min) left|nothing left")


@pytest.fixture
def progress_lines(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> pytest.LogCaptureFixture:
    """Progress every 50 ms instead of every minute; the lines are in ``caplog``."""
    monkeypatch.setattr(run_stats, "PROGRESS_INTERVAL_SECONDS", 0.05)
    caplog.set_level(logging.INFO)
    return caplog


def lines_of(caplog: pytest.LogCaptureFixture, stream: str) -> list[str]:
    prefix = f"progress {stream}: "
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(prefix)]


def test_windows_done_never_decrease_and_reach_the_total(
    progress_lines: pytest.LogCaptureFixture,
) -> None:
    with Sandbox(seed=8, records=900, latency_ms=15, vendors=("tixngo",)) as sandbox:
        config = source_config(sandbox, "tixngo", window_hours=12, page_size=100)
        config["max_concurrency"] = 2
        output = run_tap(config)
    start, end = parse_datetime(config["start_date"]), parse_datetime(config["end_date"])
    apps = len(config["tixngo"]["mobile_app_ids"])
    planned = apps * int((end - start) / dt.timedelta(hours=12))

    lines = lines_of(progress_lines, "tixngo_ticket_status_logs")
    assert len(lines) >= 5, lines
    counts = [tuple(map(int, m.groups())) for line in lines if (m := WINDOWS.match(line))]
    assert len(counts) == len(lines), lines  # every line says done/total windows
    assert {total for _, total in counts} == {planned}
    done = [d for d, _ in counts]
    assert done == sorted(done), done
    assert done[-1] == planned  # the last line, before the summary, shows all of them
    for line, (windows_done, _) in zip(lines, counts, strict=True):
        # An estimate as soon as one window is done, never before.
        assert bool(ESTIMATE.search(line)) == (windows_done > 0), line
        assert (NO_ESTIMATE in line) == (windows_done == 0), line
        reached = DATA_TIME.search(line)
        if reached:
            assert start <= parse_datetime(reached.group(1)) <= end, line
    assert DATA_TIME.search(lines[-1]).group(1) == config["end_date"]  # type: ignore[union-attr]
    assert f"{len(output.records('tixngo_ticket_status_logs'))} records" in lines[-1]
    summaries = [
        r.getMessage() for r in progress_lines.records if "summary tixngo" in r.getMessage()
    ]
    assert summaries[0].startswith(
        f"summary tixngo_ticket_status_logs: 900 records, {counts[-1][0]} requests, 0 retries"
    )


def test_child_partitions_are_an_unknown_total_until_their_parents_are_listed(
    progress_lines: pytest.LogCaptureFixture,
) -> None:
    with Sandbox(seed=8, records=600, latency_ms=10, vendors=("socialboards",)) as sandbox:
        config = source_config(sandbox, "socialboards")
        config["max_concurrency"] = 2
        run_tap(config)
        tickets = sandbox.stats()["records"]["socialboards_tickets"]

    children = lines_of(progress_lines, "socialboards_ticket_logs")
    listing = [line for line in children if UNKNOWN_TOTAL in line]
    assert listing, children  # lines while the tickets were still being listed
    for line in listing:
        assert NO_ESTIMATE in line, line
        assert "%" not in line, line  # no share of a total nobody knows yet
    assert children[-1].startswith(
        f"progress socialboards_ticket_logs: {tickets}/{tickets} tickets (100.0 %)"
    )
    # The ticket list says nothing of its length: the parent never guesses one.
    parents = lines_of(progress_lines, "socialboards_tickets")
    assert parents
    for line in parents:
        assert line.startswith("progress socialboards_tickets: total not known, "), line
        assert NO_ESTIMATE in line, line


def test_huawei_cases_count_towards_the_listings_total_count(
    progress_lines: pytest.LogCaptureFixture,
) -> None:
    with Sandbox(seed=8, records=600, latency_ms=10, vendors=("huawei",)) as sandbox:
        config = source_config(sandbox, "huawei", page_size=10)
        config["max_concurrency"] = 2
        run_tap(config)
        cases = sandbox.stats()["records"]["huawei_cases"]

    lines = lines_of(progress_lines, "huawei_cases")
    assert lines
    listed = re.match(r"progress huawei_cases: (\d+)/(\d+) listed cases", lines[-1])
    assert listed, lines[-1]
    # Every entry the listings promised (a case open and recent is in two) was received.
    assert listed.group(1) == listed.group(2)
    assert int(listed.group(2)) >= cases
    logs = lines_of(progress_lines, "huawei_case_operate_logs")
    assert logs[-1].startswith(f"progress huawei_case_operate_logs: {cases}/{cases} cases")


def test_a_short_run_logs_only_its_summary(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with Sandbox(seed=8, records=90, vendors=("tixngo",)) as sandbox:
        run_tap(source_config(sandbox, "tixngo"))
    messages = [r.getMessage() for r in caplog.records]
    assert not [m for m in messages if m.startswith("progress ")]
    assert [m for m in messages if m.startswith("summary tixngo_ticket_status_logs: 90 records")]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.4, "0 s"), (89, "89 s"), (91, "2 min"), (89 * 60, "89 min"), (200 * 60, "3 h 20 min")],
)
def test_durations_read_at_a_glance(seconds: float, text: str) -> None:
    assert run_stats.duration_text(seconds) == text
