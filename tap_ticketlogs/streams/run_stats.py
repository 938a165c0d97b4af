"""What one run of a stream did, logged as one summary line at its end.

Counts come from the places the SDK already calls: the record counter (records, partitions)
and the shared request path (requests, retries, pages). Long runs also log a progress line at
a steady interval, so an operator watching a backfill sees it move.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from singer_sdk import metrics
from typing_extensions import override

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

    def add(self, **counts: int) -> None:
        with self._lock:
            if self.started is None:
                self.started = self._last_progress = time.monotonic()
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

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

    def maybe_log_progress(self) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last_progress < PROGRESS_INTERVAL_SECONDS:
                return
            self._last_progress = now
        self.logger.info(self.line("progress"))

    def log_summary(self) -> None:
        if self.started is not None:
            self.logger.info(self.line("summary"))


class RunStatsCounter(metrics.Counter):
    """The SDK's record counter, also feeding the run's totals and progress lines.

    The SDK reads the clock on every increment (is a metric line due?); here records are
    handed to it, and to the run's totals, 1 000 at a time.
    """

    def __init__(self, stats: RunStats, tags: dict[str, Any], log_interval: float) -> None:
        super().__init__(metrics.Metric.RECORD_COUNT, tags, log_interval=log_interval)
        self._stats = stats
        self._uncounted = 0

    @override
    def increment(self, value: int = 1) -> None:
        self._uncounted += value
        if self._uncounted >= _COUNT_BATCH:
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
        if self._uncounted:
            counted, self._uncounted = self._uncounted, 0
            super().increment(counted)
            self._stats.add(records=counted)
        self._stats.maybe_log_progress()
