"""Streaming for every source: bounded pages, parents read lazily, state behind the output.

Each source is run concurrently with small pages against the sandbox; what came out is
checked against what a sequential reading must give (exactly once), against the number of
pages the prefetcher held, and against runs resumed from STATE messages written mid-run.
"""

from __future__ import annotations

import io
import json
import threading
from contextlib import redirect_stdout
from typing import Any

import pytest
import requests

from tap_ticketlogs.sandbox.server import Sandbox
from tap_ticketlogs.streams.parents import CHILD_PAGES_PER_WORKER
from tap_ticketlogs.tap import TapTicketLogs
from tests.helpers import TapOutput, run_tap, source_config

# Per source: settings giving many small pages, and its streams.
SMALL_PAGES: dict[str, dict[str, Any]] = {
    "tixngo": {"page_size": 9, "window_hours": 72},
    "akana": {"page_size": 9, "window_hours": 72},
    "socialboards": {"page_size": 3},
    "huawei": {"page_size": 7},
}


def run_in_process(config: dict[str, Any]) -> tuple[TapOutput, TapTicketLogs]:
    tap = TapTicketLogs(config=config)
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        tap.sync_all()
    return TapOutput.parse(buffer.getvalue()), tap


def keyed_records(output: TapOutput, messages: list[dict[str, Any]] | None = None) -> list[str]:
    """Every RECORD as 'stream:primary key', in output order."""
    keys = {
        message["stream"]: message["key_properties"]
        for message in output.messages
        if message["type"] == "SCHEMA"
    }
    return [
        f"{m['stream']}:" + json.dumps([m["record"][key] for key in keys[m["stream"]]])
        for m in (output.messages if messages is None else messages)
        if m["type"] == "RECORD"
    ]


@pytest.mark.parametrize("source", sorted(SMALL_PAGES))
def test_concurrency_keeps_every_record_once_and_state_behind_what_was_emitted(
    source: str,
) -> None:
    with Sandbox(seed=11, records=400, vendors=(source,)) as sandbox:
        config = source_config(sandbox, source, **SMALL_PAGES[source])
        # Every STATE the run would write goes out (no throttle), so each one is checked.
        config["state_interval_seconds"] = 0
        sequential = keyed_records(run_tap({**config, "max_concurrency": 1}))
        output = run_tap({**config, "max_concurrency": 6})
        emitted = keyed_records(output)
        assert len(emitted) == len(set(emitted)), "a record was emitted twice"
        assert sorted(emitted) == sorted(sequential)
        assert emitted == sequential  # same order: partitions, windows and pages in turn
        # A run killed right after any STATE message and resumed from it emits (at least)
        # every record that came after it: no bookmark ran ahead of work still in flight.
        states = [i for i, m in enumerate(output.messages) if m["type"] == "STATE"]
        assert len(states) >= 3
        for index in (states[1], states[len(states) // 2], states[-2]):
            after = set(keyed_records(output, output.messages[index + 1 :]))
            resumed = run_tap(
                {**config, "max_concurrency": 6}, state=output.messages[index]["value"]
            )
            missing = after - set(keyed_records(resumed))
            assert not missing, f"{len(missing)} records lost resuming from STATE #{index}"


def test_a_huge_window_holds_a_bounded_number_of_pages() -> None:
    # One window per app over the whole month: 2 000 entries per app in pages of 10, i.e.
    # 200 pages per window. Whatever the window's size, at most 2 x max_concurrency pages
    # (requests in flight included) are held at any time.
    with Sandbox(seed=3, records=6_000, vendors=("tixngo",)) as sandbox:
        config = source_config(sandbox, "tixngo", page_size=10, window_hours=24 * 366)
        output, tap = run_in_process({**config, "max_concurrency": 3})
        requests = sandbox.stats()["requests"]["GET /organizer/report/ticket-status-logs"]
    stream = tap.streams["tixngo_ticket_status_logs"]
    emitted = keyed_records(output)
    assert len(emitted) == len(set(emitted)) == 6_000
    assert requests["200"] >= 600
    assert 2 <= stream.peak_pages_held <= 6


def test_a_child_stream_holds_a_bounded_number_of_pages_whatever_the_ticket_count() -> None:
    # 150 tickets, 600 log pages: at most CHILD_PAGES_PER_WORKER x max_concurrency held.
    with Sandbox(seed=5, records=1_200, vendors=("socialboards",)) as sandbox:
        config = source_config(sandbox, "socialboards", page_size=2)
        output, tap = run_in_process({**config, "max_concurrency": 4})
    logs = tap.streams["socialboards_ticket_logs"]
    assert len(output.records("socialboards_ticket_logs")) == 1_200
    assert len(output.records("socialboards_tickets")) == 150
    assert 2 <= logs.peak_pages_held <= CHILD_PAGES_PER_WORKER * 4


@pytest.mark.parametrize(
    ("source", "list_label", "log_label", "page_size"),
    [
        (
            "socialboards",
            "POST /tickets/list",
            "POST /tickets/{ticketId}/log",
            10,
        ),
        (
            "huawei",
            "GET /v2/servicerequest/cases",
            "GET /v2/servicerequest/cases/{case_id}/operate-logs",
            5,
        ),
    ],
)
def test_children_are_fetched_before_the_parent_list_is_complete(
    source: str, list_label: str, log_label: str, page_size: int
) -> None:
    with Sandbox(seed=9, records=1_600, vendors=(source,)) as sandbox:
        config = source_config(sandbox, source, page_size=page_size)
        output = run_tap({**config, "max_concurrency": 4})
        order = [entry["route"] for entry in sandbox.request_log]
    assert output.records(
        f"{source}_{'ticket_logs' if source == 'socialboards' else 'case_operate_logs'}"
    )
    list_requests = [i for i, label in enumerate(order) if label == list_label]
    log_requests = [i for i, label in enumerate(order) if label == log_label]
    assert len(list_requests) >= 4
    # The first child request went out before the parent list had been read to its end.
    assert log_requests[0] < list_requests[-2]


@pytest.mark.parametrize("source", ["tixngo", "socialboards", "huawei"])
def test_max_concurrency_one_sends_one_request_at_a_time(
    source: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_flight, most = 0, 0
    lock = threading.Lock()
    send = requests.Session.send

    def counting(self: requests.Session, request: Any, **kwargs: Any) -> Any:
        nonlocal in_flight, most
        with lock:
            in_flight += 1
            most = max(most, in_flight)
        try:
            return send(self, request, **kwargs)
        finally:
            with lock:
                in_flight -= 1

    monkeypatch.setattr(requests.Session, "send", counting)
    with Sandbox(seed=2, records=300, vendors=(source,), latency_ms=2) as sandbox:
        config = source_config(sandbox, source, **SMALL_PAGES[source])
        assert keyed_records(run_tap({**config, "max_concurrency": 1}))
    assert most == 1
