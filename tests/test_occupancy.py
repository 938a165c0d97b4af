"""Every worker busy: partitions of uneven length keep ``max_concurrency`` requests in flight.

Measured from the sandbox's request log (arrival and answer times, its own clock), never
from the client's: the latency per request is large beside the CPU a request costs, so how
many requests are in flight is the scheduler's doing, not the machine's load.
"""

from __future__ import annotations

import math
from collections import Counter

import pytest

from tap_ticketlogs.sandbox.core import PARTITION_LENGTHS, SHAPED_PAGES_PER_PARTITION
from tap_ticketlogs.sandbox.server import Occupancy, Sandbox
from tap_ticketlogs.sources.huawei.sandbox import MAX_LIMIT as HUAWEI_MAX_LIMIT
from tap_ticketlogs.sources.huawei.sandbox import HuaweiAPI
from tap_ticketlogs.sources.socialboards.sandbox import (
    LOG_PATH,
    LOGS_STREAM,
    MAX_TAKE,
    SocialboardsAPI,
)
from tests.helpers import run_tap, source_config, vendor_api

LOG_ROUTE = f"POST {LOG_PATH}"
TICKETS = 100
WORKERS = 4


def log_pages(api: SocialboardsAPI) -> list[int]:
    """Pages of each ticket's log at the largest page size, in ticket order."""
    return [
        max(1, math.ceil(len(ticket.entries) / MAX_TAKE))
        for _, ticket in sorted(api.tickets.items())
    ]


def shaped_records(tickets: int) -> int:
    return int(tickets * SHAPED_PAGES_PER_PARTITION * MAX_TAKE)


def test_skewed_partition_lengths_are_mostly_one_page_a_few_many_and_seeded() -> None:
    lengths = {}
    for shape in PARTITION_LENGTHS:
        api = SocialboardsAPI(seed=42, records=shaped_records(200), partition_lengths=shape)
        lengths[shape] = log_pages(api)
    again = SocialboardsAPI(seed=42, records=shaped_records(200), partition_lengths="skewed")
    assert log_pages(again) == lengths["skewed"]
    assert set(lengths["even"]) == {2}
    skewed = Counter(lengths["skewed"])
    assert skewed[1] > len(lengths["skewed"]) / 2
    assert sum(count for pages, count in skewed.items() if pages >= 5) >= 5
    assert max(skewed) >= 10
    with pytest.raises(ValueError, match="unknown partition lengths 'long'"):
        Sandbox(partition_lengths="long")


def test_huawei_cases_take_the_shape_too() -> None:
    records = int(200 * SHAPED_PAGES_PER_PARTITION * HUAWEI_MAX_LIMIT)
    pages = {}
    for shape in ("even", "skewed"):
        api = HuaweiAPI(seed=42, records=records, partition_lengths=shape)
        pages[shape] = Counter(
            max(1, math.ceil(len(logs) / HUAWEI_MAX_LIMIT)) for logs in api.logs.values()
        )
    assert set(pages["even"]) == {2}
    assert pages["skewed"][1] > sum(pages["skewed"].values()) / 2
    assert max(pages["skewed"]) >= 8


def test_a_skewed_run_keeps_every_worker_busy_and_emits_in_sequential_order() -> None:
    # 100 tickets, most one page of log, a few up to a dozen, 100 ms a request. With two
    # page slots per worker, a ticket walking its chain of pages let the tickets after it
    # fill every slot, and the workers waited in waves.
    records = shaped_records(TICKETS)
    with Sandbox(records=records, partition_lengths="skewed", vendors=("socialboards",)) as quick:
        sequential = run_tap({**source_config(quick, "socialboards"), "max_concurrency": 1})
    with Sandbox(
        records=records,
        partition_lengths="skewed",
        latency_ms=100,
        vendors=("socialboards",),
    ) as sandbox:
        output = run_tap({**source_config(sandbox, "socialboards"), "max_concurrency": WORKERS})
        pages = log_pages(vendor_api(sandbox, "socialboards", SocialboardsAPI))
        log_requests = [entry for entry in sandbox.request_log if entry["route"] == LOG_ROUTE]
    assert max(pages) >= 8  # the shape the run is about
    assert len(log_requests) == sum(pages)  # every page once
    assert output.records(LOGS_STREAM) == sequential.records(LOGS_STREAM)
    assert all(entry["at"] <= entry["end"] for entry in log_requests)
    # Mean requests in flight over the span, by the sandbox's clock: 0.82-0.85 of 4 on a
    # loaded 2-core machine (a request's own client CPU is a gap too), 0.63-0.65 with two
    # page slots per worker.
    occupancy = Occupancy.of(log_requests, WORKERS)
    assert occupancy.mean_in_flight >= 0.75 * WORKERS, occupancy
