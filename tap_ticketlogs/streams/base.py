"""The shared REST base of every stream: config section, URL, session, run context, counters.

Vendor packages subclass :class:`TicketLogsStream` (or ``windows.WindowedStream``
for APIs that filter by a time range, or the parent/child streams of ``parents.py``) and only
declare what differs: path, paginator, parameters, records. The base is composed of one
mixin per concern, each in its own module:

- ``http_errors.py``: response validation, the error classes, the one-line error;
- ``retrying.py``: backoff, ``Retry-After``, the source throttle's pause, give-up rules;
- ``bookmarks.py``: where a stream resumes and when STATE goes out (the whole story);
- ``record_path.py`` and ``sdk_compat.py``: the lean record path and the SDK hooks.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import requests
from singer_sdk import RESTStream, Tap, metrics
from singer_sdk.helpers.conform import TypeConformanceLevel
from typing_extensions import override

from tap_ticketlogs.errors import TicketLogsError
from tap_ticketlogs.http.rate_limit import SourceThrottle
from tap_ticketlogs.http.retries import RetryingStream
from tap_ticketlogs.http.session import CredentialSafeSession
from tap_ticketlogs.sdk_compat import RecordHookStream
from tap_ticketlogs.streams.bookmarks import BookmarkedStream
from tap_ticketlogs.streams.record_path import LeanRecordPath
from tap_ticketlogs.streams.run_context import RunContext, run_context_of
from tap_ticketlogs.streams.run_stats import RunStats, RunStatsCounter
from tap_ticketlogs.streams.schema_evolution import SchemaFollower
from tap_ticketlogs.streams.sharding import shard_of

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

TToken = TypeVar("TToken")
T = TypeVar("T")


class TicketLogsStream(
    RetryingStream,
    BookmarkedStream,
    LeanRecordPath,
    RecordHookStream,
    RESTStream[TToken],
):
    """Base of every stream: one vendor section of the config, one error vocabulary."""

    #: The context key that names a partition (``mobile_app_id``...), if partitioned.
    partition_key: ClassVar[str | None] = None

    #: Most page slots its prefetcher held at once (requests in flight included).
    peak_pages_held: int = 0

    # Records are parsed JSON plus values the streams normalise themselves (UTC strings,
    # integers): already JSON types, so the SDK's per-field conformance pass is skipped.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    @override
    def __init__(self, tap: Tap, *args: Any, **kwargs: Any) -> None:
        super().__init__(tap, *args, **kwargs)
        self._run_tap = tap  # writes STATE (write_bookmark) and keys the run context
        self.run_stats = RunStats(self.name, self.logger)
        # Every page goes through the session that keeps credentials on their origin.
        self._credential_safe_session = CredentialSafeSession()
        # One connection per concurrent request, reused across pages and windows.
        pool = int(self.config.get("max_concurrency", 8))
        adapter = requests.adapters.HTTPAdapter(pool_connections=pool, pool_maxsize=pool)
        self.requests_session.mount("https://", adapter)
        self.requests_session.mount("http://", adapter)

    @property
    @override
    def requests_session(self) -> requests.Session:
        return self._credential_safe_session

    @override
    def build_prepared_request(self, *args: Any, **kwargs: Any) -> requests.PreparedRequest:
        # The SDK also authenticates here, while preparing, outside its retry loop; the
        # authenticator runs again on every attempt, inside the retries (sdk_compat.py
        # names and tests that SDK behaviour). Only that second call is kept, so an
        # authenticator may log in or renew a token (and a failed login is retried and
        # reported in one line like any request).
        request = requests.Request(*args, **kwargs)
        request.headers.setdefault("User-Agent", self.user_agent)
        return self.requests_session.prepare_request(request)

    @property
    def configured_partitions(self) -> list[dict[str, Any]] | None:
        """Every partition the config names (apps, app versions); None: not partitioned."""
        return None

    @property
    @override
    def partitions(self) -> list[dict[str, Any]] | None:
        # This shard's part of them (all of them unless shard_count > 1).
        configured = self.configured_partitions
        return None if configured is None else shard_of(self.config).owned(configured)

    @property
    def source_config(self) -> Mapping[str, Any]:
        """This stream's section of the configuration."""
        section: Mapping[str, Any] = self.config.get(self.source) or {}
        return section

    @property
    @override
    def url_base(self) -> str:
        return str(self.source_config["base_url"]).rstrip("/")

    @property
    @override
    def timeout(self) -> int:
        return int(self.config.get("request_timeout", 60))

    @property
    @override
    def http_headers(self) -> dict[str, str]:
        return {**super().http_headers, "Accept": "application/json"}

    # Schema evolution (schema_evolution.py): a record with a field the current schema does
    # not declare gets a new SCHEMA message before it (hook: sdk_compat entry 9).
    _schema_follower: SchemaFollower | None = None

    @override
    def writes_pages(self) -> bool:
        # The page loop (sdk_compat entry 12) never advances a bookmark per record: only for
        # streams that write their own (entry 2); socialboards_tickets keeps the SDK's loop.
        return self.owns_bookmark and super().writes_pages()

    @override
    def before_record_message(self, record: dict[str, Any]) -> dict[str, Any]:
        if self._schema_follower is None:
            self._schema_follower = SchemaFollower(self, self.logger)
        self._schema_follower.before_record(record)
        return record

    @override
    def log(self, message: str, *args: Any, level: int = logging.INFO, **kwargs: Any) -> None:
        # The SDK logs "An unhandled error occurred while syncing ..." at ERROR before any
        # error escapes a stream; for the tap's own errors the command's one line says it
        # all (source, stream, partition, status), so this one only shows at DEBUG.
        if level >= logging.ERROR and isinstance(sys.exc_info()[1], TicketLogsError):
            level = logging.DEBUG
        # Its notice at the end of every empty window or page list, likewise.
        if level == logging.INFO and message.startswith("Pagination stopped after"):
            level = logging.DEBUG
        super().log(message, *args, level=level, **kwargs)

    @override
    def get_record_counter(
        self, *, endpoint: str | None = None, log_interval: float = metrics.DEFAULT_LOG_INTERVAL
    ) -> metrics.Counter:
        tags: dict[str, Any] = {metrics.Tag.STREAM: self.name}
        if endpoint:
            tags[metrics.Tag.ENDPOINT] = endpoint
        return RunStatsCounter(self.run_stats, tags, log_interval)

    @override
    def finalize_state_progress_markers(self, state: dict[str, Any] | None = None) -> None:
        super().finalize_state_progress_markers(state)  # the last STATE (bookmarks.py)
        # Called once per top-level stream after its sync (and, through it, per child).
        self.run_stats.log_summary()

    @property
    def throttle(self) -> SourceThrottle:
        """The request rate of this source, shared by all its streams and threads."""
        rate = self.source_config.get("requests_per_second")
        return self.shared("throttle", lambda: SourceThrottle(float(rate) if rate else None))

    @property
    def run_context(self) -> RunContext:
        """What all streams of this tap run share (see ``shared``, ``extraction_end``)."""
        return run_context_of(self._run_tap)

    def shared(self, name: str, factory: Callable[[], T]) -> T:
        """A value shared by every stream of this source for the run (e.g. one login)."""
        return self.run_context.get_or_create(f"{self.source}:{name}", factory)

    def check_connection(self) -> None:
        """Make one cheap authenticated request; raise the one-line error if it fails.

        Used by ``tap-ticketlogs --test``. The first page of the stream's first partition is
        requested (lazily: later pages are never fetched).
        """
        # Any partition proves the credentials, this shard's or not.
        configured = self.configured_partitions
        first = configured[0] if configured else None
        next(iter(self.request_records(self.connection_check_context(first))), None)

    def connection_check_context(self, partition: Context | None) -> Context | None:
        """The context of the request ``check_connection`` makes; windowed streams add one."""
        return partition
