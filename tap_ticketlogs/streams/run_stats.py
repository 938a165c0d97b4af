"""What one run of a stream did, logged as one summary line at its end, and how far it is.

Counts come from the places the SDK already calls: the record counter (records, partitions)
and the shared request path (requests, retries, pages). Long runs also log one progress line
per stream at a steady interval, whatever the number of partitions:

    progress tixngo_ticket_status_logs: 1200/36500 windows (3.3 %), data to
    2021-04-16T00:00:00Z, 120000 records (2000 records/s), 900 requests, 0 retries,
    1 min elapsed, about 29 min left

The units and their total are what the stream announces (:meth:`RunStats.expect`): windows
planned from the bookmarks and ``end_date``, child partitions as their parents are listed,
Huawei's ``total_count``. A total that is still growing, or that no answer gives, is said to
be unknown, and then no time left is estimated. The data time is the oldest bookmark of a
partition in progress (:meth:`RunStats.reached`).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Hashable
from typing import Any

from singer_sdk import metrics
from typing_extensions import override

from tap_ticketlogs.timeutil import to_rfc3339

PROGRESS_INTERVAL_SECONDS = 60.0
#: Records are counted into the run's totals (and the clock read) once per this many.
_COUNT_BATCH = 1_000


class RunStats:
    """Thread-safe counters of one stream's run."""

    def __init__(self, stream: str, logger: logging.Logger) -> None:
        self.stream = stream
        self.logger = logger
        self._lock = threading.Lock()
        self.records = 0
        self.requests = 0
        self.retries = 0
        self.pages = 0
        self.partitions = 0
        self.skipped = 0
        self.started: float | None = None
        self._last_progress = 0.0
        self._progress_logged = False
        # What the run counts its way through (windows, tickets...), once a stream says.
        self.unit: str | None = None
        self.units_done = 0
        self.units_total = 0
        self.total_is_final = False
        # The bookmark of each partition in progress; the last one reached once none is.
        self._reached: dict[Hashable, dt.datetime] = {}
        self._last_reached: dt.datetime | None = None
        # The record counter in use, whose latest records are not in ``records`` yet.
        self.counter: RunStatsCounter | None = None

    def add(self, **counts: int) -> None:
        with self._lock:
            if self.started is None:
                self.started = self._last_progress = time.monotonic()
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)
        self.maybe_log_progress()

    def expect(self, unit: str, count: int, *, final: bool) -> None:
        """``count`` more units of work to do; ``final``: no more will be announced."""
        with self._lock:
            self.unit = unit
            self.units_total += count
            self.total_is_final = self.total_is_final or final

    def total_complete(self) -> None:
        """Every unit of the run was announced (a parent listing is done)."""
        with self._lock:
            self.total_is_final = True

    def unit_done(self, count: int = 1) -> None:
        with self._lock:
            self.units_done += count

    def reached(self, partition: Hashable, bookmark: dt.datetime) -> None:
        """A partition in progress has every entry before ``bookmark`` emitted."""
        with self._lock:
            self._reached[partition] = bookmark

    def partition_finished(self, partition: Hashable) -> None:
        with self._lock:
            self._last_reached = self._reached.pop(partition, self._last_reached)

    @property
    def elapsed(self) -> float:
        return 0.0 if self.started is None else time.monotonic() - self.started

    def line(self, label: str) -> str:
        rate = self.records / self.elapsed if self.elapsed > 0 else 0.0
        text = (
            f"{label} {self.stream}: {self.records} records, {self.requests} requests, "
            f"{self.retries} retries, {self.pages} pages, {self.partitions} partitions, "
            f"{self.elapsed:.1f} s ({rate:.0f} records/s)"
        )
        if self.skipped:
            text += f", {self.skipped} skipped"
        return text

    def progress_line(self) -> str:
        """How far the stream is: units of its total, data time, rate, time left."""
        counter = self.counter
        with self._lock:
            elapsed = self.elapsed
            records = self.records + (counter.uncounted if counter else 0)
            rate = records / elapsed if elapsed > 0 else 0.0
            parts = [self._units_text()]
            data_time = min(self._reached.values(), default=self._last_reached)
            if data_time is not None:
                parts.append(f"data to {to_rfc3339(data_time)}")
            parts += [
                f"{records} records ({rate:.0f} records/s)",
                f"{self.requests} requests",
                f"{self.retries} retries",
                f"{duration_text(elapsed)} elapsed",
                self._time_left_text(elapsed),
            ]
        if self.skipped:
            parts.append(f"{self.skipped} skipped")
        return f"progress {self.stream}: " + ", ".join(parts)

    def _units_text(self) -> str:
        if self.unit is None:
            return "total not known"
        if not self.total_is_final:
            return (
                f"{self.units_done} {self.unit} of {self.units_total} so far (total not known yet)"
            )
        share = 100 * self.units_done / self.units_total if self.units_total else 100.0
        return f"{self.units_done}/{self.units_total} {self.unit} ({share:.1f} %)"

    def _time_left_text(self, elapsed: float) -> str:
        if self.unit is None or not self.total_is_final or not self.units_done:
            return "time left not known yet"
        if self.units_done >= self.units_total:
            return "nothing left"
        left = elapsed * max(self.units_total - self.units_done, 0) / self.units_done
        return f"about {duration_text(left)} left"

    def maybe_log_progress(self) -> None:
        now = time.monotonic()
        with self._lock:
            if self.started is None or now - self._last_progress < PROGRESS_INTERVAL_SECONDS:
                return
            self._last_progress = now
            self._progress_logged = True
        self.logger.info(self.progress_line())

    def log_summary(self) -> None:
        if self.started is None:
            return
        if self._progress_logged:
            # Whoever watched it move sees where it ended, then the usual summary.
            self.logger.info(self.progress_line())
        self.logger.info(self.line("summary"))


def duration_text(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3 h 20 min``: as precise as a person reads a log line."""
    if seconds < 90:  # up to a minute and a half: in seconds
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 90:  # up to an hour and a half: in minutes
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


class RunStatsCounter(metrics.Counter):
    """The SDK's record counter, also feeding the run's totals and progress lines.

    The SDK reads the clock on every increment (is a metric line due?); here records are
    handed to it, and to the run's totals, 1 000 at a time.
    """

    def __init__(self, stats: RunStats, tags: dict[str, Any], log_interval: float) -> None:
        super().__init__(metrics.Metric.RECORD_COUNT, tags, log_interval=log_interval)
        self._stats = stats
        self.uncounted = 0
        stats.counter = self

    @override
    def increment(self, value: int = 1) -> None:
        self.uncounted += value
        if self.uncounted >= _COUNT_BATCH:
            self._count()

    @override
    def exit(self) -> None:
        self._count()
        super().exit()

    @override
    def with_context(self, context: Any) -> None:
        self._count()  # records so far belong to the previous context
        super().with_context(context)
        self._stats.add(partitions=1)

    def _count(self) -> None:
        if self.uncounted:
            counted, self.uncounted = self.uncounted, 0
            super().increment(counted)
            self._stats.add(records=counted)
        else:
            self._stats.maybe_log_progress()
