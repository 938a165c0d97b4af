"""Parent streams (tickets, cases) and the child logs they plan ahead (Socialboards, Huawei)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from typing_extensions import override

from tap_ticketlogs.streams.base import TicketLogsStream, reads_records
from tap_ticketlogs.streams.prefetch import PagePrefetcher
from tap_ticketlogs.streams.sharding import shard_of

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

TToken = TypeVar("TToken")

#: Page slots per worker of a child stream's prefetcher (requests in flight included):
#: records leave in sequential order, so the workers stay busy only if what they fetch
#: while the partition being emitted walks its chain of pages can wait behind it. The
#: prefetcher's byte budget still bounds what they hold. Figures: docs/performance.md,
#: "Every worker busy".
CHILD_PAGES_PER_WORKER = 16


class PrefetchingParentStream(TicketLogsStream[TToken]):
    """A parent (tickets, cases) whose children's logs are fetched concurrently.

    The parent list is read lazily, page by page (with ``max_concurrency`` above 1, its next
    page is fetched on a thread of its own while the current one is used, so the sync loop
    never waits for the list). Each parent record is announced to every selected child
    stream as soon as it is read, and handed to the SDK (which syncs its children) only
    once as many later parents were announced as its children's prefetchers may hold pages
    (``CHILD_PAGES_PER_WORKER x max_concurrency``): the children's requests run ahead on
    their worker threads while the SDK syncs one child context after the other, and the
    whole list is never held.
    """

    shards_by_parent = True  # only the parents whose children this shard owns

    @override
    @reads_records
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        children = [
            child
            for child in self.child_streams
            if isinstance(child, PrefetchedChildStream) and child.selected
        ]
        if not children:
            listed = self.request_records(context)
            shard = shard_of(self.config)
            for parent in shard.owned_parents(listed, self.get_child_context, context):
                self.page_started()  # parents are few: each is stamped when read
                yield parent
            return
        # Child contexts are built from the raw records here and from the post-processed
        # ones by the SDK: get_child_context must give the same answer for both.
        concurrency = self.config["max_concurrency"]
        # Every announced child unit takes a page slot at least: more would only wait.
        lookahead_depth = CHILD_PAGES_PER_WORKER * concurrency
        announced: deque[dict[str, Any]] = deque()
        listed = self._parent_records(context, concurrency)
        try:
            for parent in shard_of(self.config).owned_parents(
                listed, self.get_child_context, context
            ):
                child_contexts = [
                    child_context
                    for child_context in self.generate_child_contexts(parent, context)
                    if child_context is not None
                ]
                for child in children:
                    child.plan(child_contexts)
                    child.run_stats.expect(child.progress_unit, len(child_contexts), final=False)
                announced.append(parent)
                if len(announced) > lookahead_depth:
                    self.page_started()
                    yield announced.popleft()
            while announced:
                self.page_started()
                yield announced.popleft()
        finally:
            for child in children:
                child.finish_planning()
                child.run_stats.total_complete()

    def _parent_records(self, context: Context | None, concurrency: int) -> Iterator[Any]:
        if concurrency == 1:
            yield from self.request_records(context)  # one request at a time, in this thread
            return
        pages: PagePrefetcher[None] = PagePrefetcher(
            lambda _: self.request_records(context), max_workers=1, name="ticketlogs-parent"
        )
        pages.plan([None])
        pages.finish_planning()
        for page in pages.pages(None):
            yield from page


class PrefetchedChildStream(TicketLogsStream[TToken]):
    """A child stream whose per-parent fetches the parent planned ahead of time.

    ``fetch_partition`` yields the records of one parent context; it runs on worker
    threads, so it must not touch stream state (bookmarks are advanced by the SDK loop).
    """

    shards_by_parent = True  # its partitions are the parents this shard owns
    #: What its progress line counts, one per parent context (``tickets``, ``cases``).
    progress_unit: ClassVar[str] = "parents"

    _prefetcher: PagePrefetcher[tuple[tuple[str, Any], ...]] | None = None

    def plan(self, contexts: Iterable[Context]) -> None:
        if self.config["max_concurrency"] == 1:
            return  # one request at a time: each parent's log is read when it is synced
        if self._prefetcher is None:
            concurrency = self.config["max_concurrency"]
            self._prefetcher = PagePrefetcher(
                lambda key: self.fetch_partition(dict(key)),
                max_workers=concurrency,
                max_pages=CHILD_PAGES_PER_WORKER * concurrency,
            )
        self._prefetcher.plan(tuple(sorted(ctx.items())) for ctx in contexts)

    def finish_planning(self) -> None:
        """The parent announced its last context: the workers may stop when done."""
        if self._prefetcher is not None:
            self._prefetcher.finish_planning()
            self._prefetcher.close()
            self.peak_pages_held = max(self.peak_pages_held, self._prefetcher.peak_slots)
            self._prefetcher = None

    def fetch_partition(self, context: Context) -> Iterable[dict[str, Any]]:
        """The records of one parent context, page by page (override to skip or filter)."""
        return self.request_records(context)

    @override
    @reads_records
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        assert context is not None  # a child is always synced for one parent
        if self._prefetcher is None:
            yield from self.fetch_partition(context)
        else:
            for page in self._prefetcher.pages(tuple(sorted(context.items()))):
                self.page_started()
                yield from page
        self.run_stats.unit_done()
