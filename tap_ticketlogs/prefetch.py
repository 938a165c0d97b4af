"""Concurrent fetching of partitions and windows, consumed in order.

The SDK syncs one partition (and one window) after the other. A :class:`Prefetcher` runs
the fetches of the next units of work on a thread pool while the current one is emitted,
so up to ``max_concurrency`` requests are in flight, yet records still leave the tap in
the order a sequential run would emit them, and a bookmark is written only after every
record before it was emitted. Memory stays bounded: at most ``lookahead`` units are held.
"""

from __future__ import annotations

import queue
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)
Result = TypeVar("Result")
_Job = tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]


class DaemonPool:
    """A minimal thread pool whose workers are daemon threads.

    ``concurrent.futures.ThreadPoolExecutor`` joins its workers at interpreter exit: after a
    fatal error, the tap would wait for every in-flight request to exhaust its retries
    (minutes) before reporting. Daemon workers let the one-line error and the exit happen now.
    """

    def __init__(self, workers: int, name: str) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-{index}", daemon=True)
            for index in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, function: Callable[..., Result], *args: Any) -> Future[Result]:  # noqa: ANN401
        future: Future[Result] = Future()
        self._jobs.put((future, function, args))
        return future

    def shutdown(self) -> None:
        """Let every worker finish its current job and stop; queued jobs must be cancelled."""
        for _ in self._threads:
            self._jobs.put(None)

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            future, function, args = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(function(*args))
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer's thread
                future.set_exception(exc)


class Prefetcher(Generic[Key, Result]):
    """Runs ``fetch(key)`` ahead of time for keys announced with :meth:`plan`."""

    def __init__(
        self, fetch: Callable[[Key], Result], *, max_workers: int, lookahead: int | None = None
    ) -> None:
        self._fetch = fetch
        self._max_workers = max(1, max_workers)
        self._lookahead = lookahead or 2 * self._max_workers
        self._planned: list[Key] = []
        self._next_to_submit = 0
        self._futures: OrderedDict[Key, Future[Result]] = OrderedDict()
        self._executor: DaemonPool | None = None
        self._lock = threading.Lock()

    def plan(self, keys: Iterable[Key]) -> None:
        """Announce keys that will be taken, in the order they will be taken."""
        with self._lock:
            self._planned.extend(keys)
            self._top_up()

    def take(self, key: Key) -> Result:
        """The result for ``key``: prefetched if it was planned, else fetched now.

        An exception raised by the fetch is raised here, in the consumer's thread.
        """
        with self._lock:
            future = self._futures.pop(key, None)
            self._top_up()
            drained = not self._futures and self._next_to_submit >= len(self._planned)
        if future is None:
            return self._fetch(key)
        try:
            result = future.result()
        except BaseException:
            self.close()
            raise
        if drained:
            self._release_threads()  # the last planned unit: no thread is needed any more
        return result

    def close(self) -> None:
        """Cancel what has not started and release the threads."""
        with self._lock:
            for future in self._futures.values():
                future.cancel()
            self._futures.clear()
            self._planned.clear()
            self._next_to_submit = 0
        self._release_threads()

    def _release_threads(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown()

    def _top_up(self) -> None:
        if self._max_workers == 1:
            return  # sequential: fetch on demand, nothing held ahead
        while len(self._futures) < self._lookahead and self._next_to_submit < len(self._planned):
            key = self._planned[self._next_to_submit]
            self._next_to_submit += 1
            if self._executor is None:
                self._executor = DaemonPool(self._max_workers, "ticketlogs-fetch")
            self._futures[key] = self._executor.submit(self._fetch, key)
