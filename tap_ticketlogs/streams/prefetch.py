"""Concurrent fetching of windows and partitions, page by page, consumed in order.

The SDK syncs one partition (and one window) after the other. A :class:`PagePrefetcher`
fetches the pages of the next units of work (windows, child partitions) on worker threads
while the current page is emitted, yet records leave the tap in the order a sequential run
would emit them, and a bookmark is written only after every record before it was emitted.

What is held is bounded by **pages**, never by the size of a window or a partition: every
request takes a page slot before it is sent and gives it back once the consumer has moved
past that page. At most ``max_pages`` slots exist (default ``2 x max_workers``), and pages
waiting to be emitted may hold at most ``max_buffered_bytes`` of response bodies, except
that the unit being emitted (the *head*) may always hold two pages: the one being emitted
and the next one, requested meanwhile (pipelining). Two slots are kept free for the head,
so units fetched ahead can never starve it. Units are fetched ahead in the order they will
be emitted, and only once a page has been measured (the first request, the head's, goes
out alone): a page fetched for a later unit first is held, unused, until every unit before
it has been emitted.

A unit's fetch is a plain iterable of records (the SDK's ``request_records``) run on a
worker thread; the stream's request path calls :func:`before_page_request` before every
page request and :func:`page_received` with each response's size, which is how pages are
told apart and how a worker waits for a slot.
"""

from __future__ import annotations

import sys
import threading
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)
Record = Any

#: Pages held at once default to this many per worker thread.
PAGES_PER_WORKER = 2
#: Response bytes that pages fetched ahead may hold (parsed, about 3 times that in memory).
DEFAULT_MAX_BUFFERED_BYTES = 4 * 1024 * 1024
#: Until a first page has arrived, a request counts as this share of the byte budget (the
#: whole of it): one request goes out blind, not one per worker bringing a large page each.
_UNKNOWN_PAGE_SHARE = 1
#: Slots only the unit being emitted may use: the page being emitted and the next one.
_HEAD_PAGES = 2

_worker = threading.local()


class _Cancelled(BaseException):
    """Raised in a worker whose unit is no longer wanted (a fatal error, a skipped unit).

    A BaseException, so no ``except Exception`` on the request path swallows it.
    """


@dataclass
class _Page:
    records: list[Record]
    size: int  # response bytes (or the estimate made when its request was sent)


@dataclass(eq=False)  # units are compared by identity
class _Unit(Generic[Key]):
    key: Key
    index: int
    ready: deque[_Page] = field(default_factory=deque)
    #: Records of the page whose request was sent last, not yet handed to the consumer.
    pending: list[Record] = field(default_factory=list)
    pending_size: int = 0
    #: Bytes counted for the page being filled when its request was sent (an estimate).
    reserved: int = 0
    #: A slot is taken for the page being filled (its request was sent).
    filling: bool = False
    slots: int = 0  # slots held: ready pages plus the one being filled
    done: bool = False
    cancelled: bool = False
    error: BaseException | None = None


def before_page_request() -> None:
    """Called by the request path before each page request (no-op outside a worker).

    Hands the previous page of the worker's unit to the consumer, then waits for a slot.
    """
    owner: PagePrefetcher[Any] | None = getattr(_worker, "prefetcher", None)
    if owner is not None:
        owner._next_page(_worker.unit)


def page_received(size: int) -> None:
    """Called by the request path with the size of each page's response body."""
    unit: _Unit[Any] | None = getattr(_worker, "unit", None)
    if unit is not None:
        unit.pending_size = size


class PagePrefetcher(Generic[Key]):
    """Fetches the pages of units announced with :meth:`plan`, ahead of :meth:`pages`."""

    def __init__(
        self,
        fetch: Callable[[Key], Iterable[Record]],
        *,
        max_workers: int,
        max_pages: int | None = None,
        max_buffered_bytes: int = DEFAULT_MAX_BUFFERED_BYTES,
        name: str = "ticketlogs-fetch",
    ) -> None:
        self._fetch = fetch
        self._max_workers = max(1, max_workers)
        self.max_pages = max(_HEAD_PAGES, max_pages or PAGES_PER_WORKER * self._max_workers)
        # With two slots in all (one worker), the head's second slot is the only one that
        # can be lent to the unit after it; with more, the head keeps two to itself.
        self._head_reserve = _HEAD_PAGES if self.max_pages > _HEAD_PAGES else 1
        self._max_buffered_bytes = max_buffered_bytes
        self._name = name
        self._cond = threading.Condition()
        self._units: dict[Key, deque[_Unit[Key]]] = {}
        self._unstarted: deque[_Unit[Key]] = deque()
        self._planned = 0
        self._planning_done = False
        self._closed = False
        self._failed_index = sys.maxsize
        self._head: _Unit[Key] | None = None
        self._head_index = 0
        #: Indices of the units whose worker waits for a slot.
        self._waiting: set[int] = set()
        self._threads: list[threading.Thread] = []
        self._slots = 0
        self._bytes = 0
        # Until a page has been measured, assume a large one (see _UNKNOWN_PAGE_SHARE).
        self._page_size_estimate = max_buffered_bytes // _UNKNOWN_PAGE_SHARE
        self._page_size_measured = False
        #: Most slots held at once during the run (tests assert the bound).
        self.peak_slots = 0

    # The consumer's side (the SDK's sync loop, one thread).

    def plan(self, keys: Iterable[Key]) -> None:
        """Announce units that will be taken, in the order they will be taken."""
        with self._cond:
            for key in keys:
                unit = _Unit(key, self._planned)
                self._planned += 1
                self._units.setdefault(key, deque()).append(unit)
                self._unstarted.append(unit)
            self._start_workers()
            self._cond.notify_all()

    def finish_planning(self) -> None:
        """No more units will be planned: workers stop once every planned unit is fetched."""
        with self._cond:
            self._planning_done = True
            self._cond.notify_all()

    def pages(self, key: Key) -> Iterator[list[Record]]:
        """The pages of ``key``'s unit, in order; fetched now if it was never planned.

        Units planned before it and never taken are dropped. An exception raised by the
        fetch is raised here, in the consumer's thread, after the pages fetched before it.
        """
        with self._cond:
            queued = self._units.get(key)
            unit = queued.popleft() if queued else None
            if queued is not None and not queued:
                del self._units[key]
            if unit is not None:
                self._drop_units_before(unit.index)
                self._head, self._head_index = unit, unit.index
                self._cond.notify_all()
        if unit is None:
            yield from _pages_of(self._fetch(key))
            return
        finished = False
        try:
            while True:
                with self._cond:
                    while not unit.ready and not unit.done:
                        self._cond.wait()
                    if not unit.ready:
                        break
                    page = unit.ready.popleft()
                yield page.records
                with self._cond:
                    self._release(unit, page.size)
            if unit.error is not None:
                raise unit.error
            finished = True
        except BaseException:
            self.close()
            raise
        finally:
            if not finished:
                with self._cond:
                    self._cancel(unit)

    def close(self) -> None:
        """Stop every worker after its current request and drop what was fetched ahead."""
        with self._cond:
            self._closed = True
            for queued in self._units.values():
                for unit in queued:
                    self._cancel(unit)
            self._units.clear()
            self._unstarted.clear()
            self._cond.notify_all()

    @property
    def slots_held(self) -> int:
        with self._cond:
            return self._slots

    # The workers' side.

    def _start_workers(self) -> None:
        while len(self._threads) < self._max_workers and self._unstarted:
            thread = threading.Thread(
                target=self._work, name=f"{self._name}-{len(self._threads)}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def _work(self) -> None:
        while (unit := self._next_unit()) is not None:
            _worker.prefetcher, _worker.unit = self, unit
            try:
                for record in self._fetch(unit.key):
                    unit.pending.append(record)
                self._finish(unit)
            except _Cancelled:
                pass
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer's thread
                with self._cond:
                    if unit.pending:
                        self._hand_over(unit)  # records read before the failure go out
                    self._drop_filling(unit)
                    unit.error = exc
                    # The run stops at this unit: nothing after it is requested any more.
                    self._failed_index = min(self._failed_index, unit.index)
            finally:
                _worker.prefetcher = _worker.unit = None
                with self._cond:
                    unit.done = True
                    if unit.cancelled:
                        self._drop_filling(unit)
                        self._cancel(unit)  # nobody will take these pages
                    self._cond.notify_all()

    def _next_unit(self) -> _Unit[Key] | None:
        with self._cond:
            while True:
                if self._closed or (
                    self._unstarted and self._unstarted[0].index > self._failed_index
                ):
                    return None
                if self._unstarted and self._unstarted[0].index - self._head_index < self.max_pages:
                    return self._unstarted.popleft()
                if self._planning_done and not self._unstarted:
                    return None
                self._cond.wait()

    def _next_page(self, unit: _Unit[Key]) -> None:
        """Hand the filled page over, then wait until this unit may send its next request."""
        with self._cond:
            self._hand_over(unit)
            self._wait_for_slot(unit)
            estimate = self._page_size_estimate
            unit.filling, unit.pending_size, unit.reserved = True, estimate, estimate
            unit.slots += 1
            self._slots += 1
            self._bytes += estimate
            self.peak_slots = max(self.peak_slots, self._slots)

    def _wait_for_slot(self, unit: _Unit[Key]) -> None:
        """Wait until ``unit`` may take a slot (caller holds the lock)."""
        self._waiting.add(unit.index)
        try:
            while not self._may_request(unit):
                self._cond.wait()
        except _Cancelled:
            self._cond.notify_all()  # units after it may have room now
            raise
        finally:
            self._waiting.discard(unit.index)

    def _is_head(self, unit: _Unit[Key]) -> bool:
        # Before the consumer takes its first unit, the first one planned is the head.
        return unit is self._head or (self._head is None and unit.index == self._head_index)

    def _may_request(self, unit: _Unit[Key]) -> bool:
        if self._closed or unit.cancelled or unit.index > self._failed_index:
            raise _Cancelled
        before = 0  # units fetched ahead that wait for a slot and are emitted before this one
        if self._is_head(unit):
            if unit.slots < self._head_reserve:
                return True
            free = self.max_pages - self._slots
        else:
            if not self._page_size_measured:
                return False  # the first request goes out alone: the head's
            # Room goes to units in the order they are emitted: a page fetched for a later
            # unit first would be held, unused, until every unit before it had been
            # emitted. So this unit needs room for itself and for every waiting unit before
            # it, the head included (all of them may go at once: none waits for a turn).
            before = sum(index < unit.index for index in self._waiting)
            head_slots = self._head.slots if self._head is not None else 0
            free = self.max_pages - self._head_reserve - (self._slots - head_slots)
            free = min(free, self.max_pages - self._slots)
        needed = (before + 1) * self._page_size_estimate
        return free > before and self._bytes + needed <= self._max_buffered_bytes

    def _finish(self, unit: _Unit[Key]) -> None:
        with self._cond:
            if unit.pending and not unit.filling:
                # Records that came without a request (configured ids): one page of them.
                self._wait_for_slot(unit)
                unit.filling = True
                unit.slots += 1
                self._slots += 1
            self._hand_over(unit)

    def _hand_over(self, unit: _Unit[Key]) -> None:
        """Move the page being filled to the consumer's queue (caller holds the lock)."""
        if not unit.filling:
            return
        size = unit.pending_size
        # The estimate counted when the request was sent becomes the page's actual size.
        self._bytes += size - unit.reserved
        if self._page_size_measured:
            self._page_size_estimate = max(self._page_size_estimate, size)
        elif size:
            self._page_size_estimate, self._page_size_measured = size, True
        unit.ready.append(_Page(unit.pending, size))
        unit.pending, unit.pending_size, unit.reserved, unit.filling = [], 0, 0, False
        self._cond.notify_all()

    def _drop_filling(self, unit: _Unit[Key]) -> None:
        """Give back the slot of a page that will never be handed over (caller holds the lock)."""
        if unit.filling:
            unit.slots -= 1
            self._slots -= 1
            self._bytes -= unit.reserved
            unit.pending, unit.pending_size, unit.reserved, unit.filling = [], 0, 0, False
            self._cond.notify_all()

    def _release(self, unit: _Unit[Key], size: int) -> None:
        unit.slots -= 1
        self._slots -= 1
        self._bytes -= size
        self._cond.notify_all()

    def _cancel(self, unit: _Unit[Key]) -> None:
        """Drop a unit's pages and free its slots (caller holds the lock)."""
        unit.cancelled = True
        while unit.ready:
            self._release(unit, unit.ready.popleft().size)
        if unit in self._unstarted:
            self._unstarted.remove(unit)
            unit.done = True
        if self._head is unit:
            self._head = None
        self._cond.notify_all()

    def _drop_units_before(self, index: int) -> None:
        """Units planned before ``index`` and never taken (caller holds the lock)."""
        for key in list(self._units):
            queued = self._units[key]
            for unit in [unit for unit in queued if unit.index < index]:
                queued.remove(unit)
                self._cancel(unit)
            if not queued:
                del self._units[key]


def _pages_of(records: Iterable[Record]) -> Iterator[list[Record]]:
    """An unplanned unit, fetched in the consumer's thread: its records one page each."""
    for record in records:
        yield [record]
