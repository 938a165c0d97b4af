"""The page prefetcher: order, exactly-once, bounded pages, errors, skipped units."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from tap_ticketlogs.streams.prefetch import PagePrefetcher, before_page_request, page_received

Item = tuple[int, int, int]


class PagedSource:
    """Units of ``pages`` pages of ``per_page`` items, fetched the way request_records does."""

    def __init__(self, pages: dict[int, int], per_page: int = 3, page_bytes: int = 100) -> None:
        self.pages = pages
        self.per_page = per_page
        self.page_bytes = page_bytes
        self.requests: list[tuple[int, int]] = []
        self._lock = threading.Lock()
        self.fail_at: tuple[int, int] | None = None
        self.slow_start: set[int] = set()

    def fetch(self, key: int) -> Iterator[Item]:
        if key in self.slow_start:
            time.sleep(0.05)  # this unit prepares its first request slowly
        for page in range(self.pages[key]):
            before_page_request()
            with self._lock:
                self.requests.append((key, page))
            if (key, page) == self.fail_at:
                msg = f"page {page} of unit {key} failed"
                raise RuntimeError(msg)
            time.sleep(0.001)
            page_received(self.page_bytes)
            for item in range(self.per_page):
                yield (key, page, item)

    def expected(self, key: int) -> list[Item]:
        return [(key, p, i) for p in range(self.pages[key]) for i in range(self.per_page)]


def wait_for(condition: Callable[[], bool], seconds: float = 2.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def taken(prefetcher: PagePrefetcher[int], key: int) -> list[Item]:
    return [item for page in prefetcher.pages(key) for item in page]


def test_units_come_back_in_order_each_page_fetched_once() -> None:
    source = PagedSource({key: 1 + key % 4 for key in range(30)})
    prefetcher = PagePrefetcher(source.fetch, max_workers=4)
    prefetcher.plan(range(30))
    prefetcher.finish_planning()
    for key in range(30):
        assert taken(prefetcher, key) == source.expected(key)
    assert sorted(source.requests) == sorted(set(source.requests))  # no page twice
    assert len(source.requests) == sum(source.pages.values())
    assert prefetcher.slots_held == 0


def test_a_huge_unit_holds_a_bounded_number_of_pages_and_is_pipelined() -> None:
    # One unit of 400 pages and a consumer slower than the fetcher: without the bound every
    # page would pile up; with it, at most 2 x max_workers slots (requests in flight
    # included) exist at any time, and the fetcher still runs ahead of the consumer.
    source = PagedSource({0: 400, 1: 50, 2: 50})
    prefetcher = PagePrefetcher(source.fetch, max_workers=3)
    prefetcher.plan(range(3))
    prefetcher.finish_planning()
    seen: list[Item] = []
    ahead: list[int] = []
    for key in range(3):
        for page in prefetcher.pages(key):
            ahead.append(prefetcher.slots_held)
            seen.extend(page)
            time.sleep(0.002)
    assert seen == [item for key in range(3) for item in source.expected(key)]
    assert prefetcher.peak_slots <= 6
    assert max(ahead) >= 2  # the next page was fetched while this one was emitted


def test_the_byte_budget_limits_pages_fetched_ahead() -> None:
    # Pages of 1 000 bytes, nothing consumed yet. Without a byte budget, four workers fill
    # the 8 slots (the first unit planned, emitted first, takes its two); with 2 500 bytes,
    # that unit's two pages are all that fit (until the first page is measured, only the
    # first unit sends a request: the first request goes out alone).
    held = {}
    for budget in (10_000_000, 2_500):
        source = PagedSource(dict.fromkeys(range(4), 20), page_bytes=1_000)
        prefetcher = PagePrefetcher(source.fetch, max_workers=4, max_buffered_bytes=budget)
        prefetcher.plan(range(4))
        prefetcher.finish_planning()
        time.sleep(0.2)  # let the workers fill what they may before anything is consumed
        held[budget] = prefetcher.slots_held
        for key in range(4):
            assert taken(prefetcher, key) == source.expected(key)
    assert held[10_000_000] == 8
    assert held[2_500] == 2


def test_pages_are_fetched_ahead_in_the_order_units_are_emitted() -> None:
    # Pages as large as most of the byte budget: no page fits beside one of the unit being
    # emitted, so at most its two are held. The first unit prepares its first request
    # slowly; a later unit must not take the first (blind) request meanwhile, nor take
    # the budget freed at the end of a unit before an earlier unit: either page would be
    # held, unused, until every unit before it had been emitted.
    source = PagedSource(dict.fromkeys(range(4), 6), page_bytes=1_000)
    source.slow_start = {0}
    prefetcher = PagePrefetcher(source.fetch, max_workers=4, max_buffered_bytes=1_500)
    prefetcher.plan(range(4))
    prefetcher.finish_planning()
    for key in range(4):
        for page in prefetcher.pages(key):
            assert page
            time.sleep(0.003)  # emitting is slower than fetching
    first_requests = [key for key, page in source.requests if page == 0]
    assert first_requests == [0, 1, 2, 3]
    assert prefetcher.peak_slots == 2


def test_the_fetch_error_is_raised_in_the_consumer_after_the_pages_before_it() -> None:
    source = PagedSource(dict.fromkeys(range(6), 3))
    source.fail_at = (3, 1)
    prefetcher = PagePrefetcher(source.fetch, max_workers=3)
    prefetcher.plan(range(6))
    prefetcher.finish_planning()
    for key in range(3):
        assert taken(prefetcher, key) == source.expected(key)
    pages = prefetcher.pages(3)
    assert next(pages) == [(3, 0, item) for item in range(3)]
    with pytest.raises(RuntimeError, match="page 1 of unit 3 failed"):
        next(pages)
    # Requests in flight finish, then everything fetched ahead is dropped.
    assert wait_for(lambda: prefetcher.slots_held == 0)
    requests_after_close = len(source.requests)
    time.sleep(0.05)
    assert len(source.requests) == requests_after_close  # no worker sends another


def test_units_never_taken_are_dropped_and_free_their_pages() -> None:
    # The SDK skips a parent whose record a stream map filters out: its child unit is
    # planned but never taken.
    source = PagedSource(dict.fromkeys(range(6), 2))
    prefetcher = PagePrefetcher(source.fetch, max_workers=2)
    prefetcher.plan(range(6))
    prefetcher.finish_planning()
    assert taken(prefetcher, 0) == source.expected(0)
    assert taken(prefetcher, 4) == source.expected(4)
    assert taken(prefetcher, 5) == source.expected(5)
    assert prefetcher.slots_held == 0


def test_an_unplanned_unit_is_fetched_in_the_consumer_thread() -> None:
    source = PagedSource({0: 2, 9: 2})
    prefetcher = PagePrefetcher(source.fetch, max_workers=2)
    prefetcher.plan([0])
    assert taken(prefetcher, 9) == source.expected(9)
    assert taken(prefetcher, 0) == source.expected(0)


def test_one_worker_sends_one_request_at_a_time_and_holds_two_pages() -> None:
    source = PagedSource({0: 30, 1: 30})
    prefetcher = PagePrefetcher(source.fetch, max_workers=1)
    prefetcher.plan(range(2))
    prefetcher.finish_planning()
    for key in range(2):
        assert taken(prefetcher, key) == source.expected(key)
    assert prefetcher.peak_slots <= 2
