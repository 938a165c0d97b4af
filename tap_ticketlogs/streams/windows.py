"""Streams whose API filters by a time range, read window by window (TIXNGO, Akana)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from typing_extensions import override

from tap_ticketlogs.streams.base import TicketLogsStream, reads_records
from tap_ticketlogs.streams.prefetch import PagePrefetcher
from tap_ticketlogs.timeutil import iter_windows, to_rfc3339

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

TToken = TypeVar("TToken")
# (partition context items, window start, window end): one unit of concurrent work.
WindowKey = tuple[tuple[tuple[str, Any], ...], dt.datetime, dt.datetime]
WINDOW_START = "window_start"
WINDOW_END = "window_end"


class WindowedStream(TicketLogsStream[TToken]):
    """A stream whose API filters by a time range, read as consecutive windows.

    For each partition: windows of ``window_hours`` from the bookmark (or ``start_date``) up
    to ``end_date`` or now minus ``lag_minutes``. After every window is fully read, the
    partition's bookmark becomes that window's end and a STATE message is written, so a
    killed run resumes at the first window it had not finished and re-reads at most that one.
    The bookmark does not depend on the records' own timestamp fields.
    """

    owns_bookmark = True
    _prefetcher: PagePrefetcher[WindowKey] | None = None

    @property
    def window_width(self) -> dt.timedelta:
        return dt.timedelta(hours=float(self.source_config["window_hours"]))

    def windows(self, context: Context | None) -> list[tuple[dt.datetime, dt.datetime]]:
        """The windows this run reads for a partition, oldest first."""
        return list(
            iter_windows(
                self.bookmarks.start(context), self.bookmarks.extraction_end(), self.window_width
            )
        )

    def record_pages(self, context: Context | None) -> Iterable[list[dict[str, Any]]]:
        """The partition's records page by page, window after window; the bookmark moves
        to a window's end once the consumer asks for what follows its last page.

        Subclasses filter or add records a page at a time here; ``get_records`` yields
        these pages' records.
        """
        if (context is None and self.partition_key) or not self.read_by_this_shard:
            # Every partition (or the whole stream) belongs to another shard: the SDK then
            # reads a stream once without a partition, as if it had none.
            return
        prefetcher = self._window_prefetcher()
        partition = tuple(sorted((context or {}).items()))
        for window_start, window_end in self.windows(context):
            self.run_stats.reached(partition, window_start)
            for page in prefetcher.pages(_window_key(context, window_start, window_end)):
                self.page_started()
                yield page
            self.checkpoint(context, window_end)
            self.run_stats.reached(partition, window_end)
            self.run_stats.unit_done()
        self.run_stats.partition_finished(partition)
        self.peak_pages_held = prefetcher.peak_slots

    @override
    @reads_records
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        for page in self.record_pages(context):
            yield from page

    @override
    def connection_check_context(self, partition: Context | None) -> Context | None:
        # The latest window of the run: the most likely to be small, never in the future.
        end = self.bookmarks.extraction_end()
        return {
            **(partition or {}),
            WINDOW_START: to_rfc3339(end - self.window_width),
            WINDOW_END: to_rfc3339(end),
        }

    def _window_prefetcher(self) -> PagePrefetcher[WindowKey]:
        """One prefetcher per run, planned with every window of every partition, in order."""
        if self._prefetcher is None:
            self._prefetcher = PagePrefetcher(
                self._fetch_window, max_workers=self.config["max_concurrency"]
            )
            planned = [
                _window_key(partition, start, end)
                for partition in self.partitions or [{}]
                for start, end in self.windows(partition or None)
            ]
            self.run_stats.expect("windows", len(planned), final=True)
            self._prefetcher.plan(planned)
            self._prefetcher.finish_planning()
        return self._prefetcher

    def _fetch_window(self, key: WindowKey) -> Iterable[dict[str, Any]]:
        partition_items, window_start, window_end = key
        window_context = {
            **dict(partition_items),
            WINDOW_START: to_rfc3339(window_start),
            WINDOW_END: to_rfc3339(window_end),
        }
        return self.request_records(window_context)

    def checkpoint(self, context: Context | None, window_end: dt.datetime) -> None:
        """Record that every entry before ``window_end`` has been emitted, and say so."""
        self.bookmarks.write(context, window_end)


def _window_key(
    context: Context | None, window_start: dt.datetime, window_end: dt.datetime
) -> WindowKey:
    return (tuple(sorted((context or {}).items())), window_start, window_end)
