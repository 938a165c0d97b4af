"""The shared REST base of every stream: config section, session, request policy, bookmarks.

Vendor packages subclass :class:`TicketLogsStream` (or ``windows.WindowedStream`` for APIs
that filter by a time range, or the parent/child streams of ``parents.py``) and declare what
differs: path, paginator, parameters, records. What every stream does is composed, not
stacked: a :class:`~tap_ticketlogs.http.policy.RequestPolicy` retries and paces its requests,
:func:`~tap_ticketlogs.http.responses.check_response` reads every answer against the
stream's rules, a :class:`~tap_ticketlogs.streams.bookmarks.Bookmarks` says where it resumes
and writes its STATE. The SDK hooks the tap needs are in ``sdk_compat.SDKStream``.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar
from urllib.parse import parse_qs, urlsplit

import requests
from singer_sdk import Tap, metrics
from singer_sdk.helpers.conform import TypeConformanceLevel
from typing_extensions import override

from tap_ticketlogs.errors import SourceAPIError, TicketLogsError
from tap_ticketlogs.http.policy import (
    RequestFailedError,
    RequestPolicy,
    RetryTiming,
    SourceThrottle,
)
from tap_ticketlogs.http.redaction import REDACTOR
from tap_ticketlogs.http.responses import (
    BODY_EXCERPT_CHARS,
    check_response,
    decoded_json,
    entries_problem,
    rejection_detail,
)
from tap_ticketlogs.http.session import CredentialSafeSession
from tap_ticketlogs.sdk_compat import SDKStream
from tap_ticketlogs.streams import prefetch
from tap_ticketlogs.streams.bookmarks import Bookmarks
from tap_ticketlogs.streams.run_context import RunContext, host_reachability, run_context_of
from tap_ticketlogs.streams.run_stats import RunStats, RunStatsCounter
from tap_ticketlogs.streams.schema_evolution import SchemaFollower
from tap_ticketlogs.streams.sharding import shard_of

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

TToken = TypeVar("TToken")
T = TypeVar("T")
Method = TypeVar("Method", bound=Callable[..., Any])

#: What a value of an unexpected type or form raises on the record path.
UNREADABLE_DATA = (TypeError, ValueError, KeyError, AttributeError, IndexError, ArithmeticError)


def reads_records(method: Method) -> Method:
    """Mark a stream's ``get_records`` or ``post_process``: an unexpected value it meets
    (a list where a date-time was, a string where a number was) becomes the stream's
    one-line error naming the partition, instead of a traceback; so does a record without
    the replication key where the SDK moves the bookmark from it. Nothing is skipped: the
    bookmark has not moved past that record."""
    if method.__name__ == "get_records":

        @functools.wraps(method)
        def records(self: TicketLogsStream[Any], context: Context | None) -> Iterator[Any]:
            try:
                yield from method(self, context)
            except UNREADABLE_DATA as exc:
                raise self.unreadable_data_error(exc, context) from None

        return records  # type: ignore[return-value]

    @functools.wraps(method)
    def guarded(self: TicketLogsStream[Any], row: Any, context: Context | None = None) -> Any:  # noqa: ANN401
        try:
            record = method(self, row, context)
        except UNREADABLE_DATA as exc:
            raise self.unreadable_data_error(exc, context) from None
        # Where the SDK moves the bookmark, it reads the record's replication key next.
        key = self.replication_key
        if not self.owns_bookmark and record is not None and key and key not in record:
            raise self.unreadable_data_error(KeyError(key), context)
        return record

    return guarded  # type: ignore[return-value]


class TicketLogsStream(SDKStream[TToken]):
    """Base of every stream: one vendor section of the config, one error vocabulary."""

    #: The config section this stream reads (``tixngo``...), as its source declares it.
    source: ClassVar[str]
    #: How the source is named in log and error lines, as its source declares it.
    source_label: ClassVar[str]
    #: The context key that names a partition (``mobile_app_id``...), if partitioned.
    partition_key: ClassVar[str | None] = None
    #: Query parameters worth naming in an error line (time windows, offsets).
    described_params: ClassVar[tuple[str, ...]] = ()
    #: The key of the answer's list of records (``{"result": [...]}``); None: the stream
    #: reads its answers itself (``parse_response``, ``body_problem``).
    records_key: ClassVar[str | None] = None
    #: Keys of which every answer of the endpoint carries at least one; empty: any JSON
    #: object is taken for an answer (``http.responses.foreign_answer``).
    answer_keys: ClassVar[tuple[str, ...]] = ()
    #: Whether ``{}`` is an answer (an empty page) rather than another server's JSON.
    empty_object_is_a_page: ClassVar[bool] = False
    extra_retry_statuses: ClassVar[tuple[int, ...]] = (HTTPStatus.TOO_MANY_REQUESTS,)  # type: ignore[misc]

    #: First retry delay, doubled per attempt up to ``retry_max_seconds``, plus jitter.
    retry_base_seconds: ClassVar[float] = RetryTiming.base_seconds
    retry_max_seconds: ClassVar[float] = RetryTiming.max_seconds
    #: A server's ``Retry-After`` is honoured up to this long (beyond: a misconfigured hint).
    retry_after_max_seconds: ClassVar[float] = RetryTiming.retry_after_max_seconds
    #: A host that has not answered once since the run started (connection refused, name
    #: not resolved) is given up on this long after its first failure.
    never_answered_give_up_seconds: ClassVar[float] = 15.0

    #: Most page slots its prefetcher held at once (requests in flight included).
    peak_pages_held: int = 0

    # Records are parsed JSON plus values the streams normalise themselves (UTC strings,
    # integers): already JSON types, so the SDK's per-field conformance pass is skipped.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    _schema_follower: SchemaFollower | None = None

    @override
    def __init__(self, tap: Tap, *args: Any, **kwargs: Any) -> None:
        super().__init__(tap, *args, **kwargs)
        self.run_context: RunContext = run_context_of(tap)
        self.run_stats = RunStats(self.name, self.logger)
        self.bookmarks = Bookmarks(self, self.run_context, tap)
        # Every page goes through the session that keeps credentials on their origin.
        self._credential_safe_session = CredentialSafeSession()
        # One connection per concurrent request, reused across pages and windows.
        pool = self.config["max_concurrency"]
        adapter = requests.adapters.HTTPAdapter(pool_connections=pool, pool_maxsize=pool)
        self.requests_session.mount("https://", adapter)
        self.requests_session.mount("http://", adapter)

    # The source's part of the config.

    @property
    def source_config(self) -> Mapping[str, Any]:
        """This stream's section of the configuration."""
        section: Mapping[str, Any] = self.config.get(self.source) or {}
        return section

    @property
    def page_size(self) -> int:
        """Records per request: the section's ``page_size`` (its default is the vendor's
        documented maximum, which validation enforces)."""
        return int(self.source_config["page_size"])

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

    #: Whether the stream's records are split between shards by the stream itself (a parent
    #: by its children's partitions, a child by its parent's); see :attr:`read_by_this_shard`.
    shards_by_parent: ClassVar[bool] = False

    @property
    def read_by_this_shard(self) -> bool:
        """Whether this run reads the stream at all. A stream with no partitions of its own
        (and no parent or children that split it) is one partition, named by the stream,
        owned by one shard: with ``shard_count`` > 1 the others read none of it."""
        if self.configured_partitions is not None or self.shards_by_parent:
            return True
        return shard_of(self.config).owns({"stream": self.name})

    @override
    @reads_records
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        # Streams that read windows or parents override this and ask read_by_this_shard
        # (or split their records) themselves.
        if self.read_by_this_shard:
            yield from super().get_records(context)

    def shared(self, name: str, factory: Callable[[], T]) -> T:
        """A value shared by every stream of this source for the run (e.g. one login)."""
        return self.run_context.get_or_create(f"{self.source}:{name}", factory)

    # Requests.

    @property
    @override
    def url_base(self) -> str:
        return str(self.source_config["base_url"]).rstrip("/")

    @property
    @override
    def timeout(self) -> int:
        return int(self.config["request_timeout"])

    @property
    @override
    def http_headers(self) -> dict[str, str]:
        return {**super().http_headers, "Accept": "application/json"}

    @property
    @override
    def requests_session(self) -> requests.Session:
        return self._credential_safe_session

    @override
    def build_prepared_request(self, *args: Any, **kwargs: Any) -> requests.PreparedRequest:
        # The SDK also authenticates here, while preparing, outside its retry loop; the
        # authenticator runs again on every attempt, inside the retries (sdk_compat
        # "authentication per attempt"). Only that second call is kept, so an authenticator
        # may log in or renew a token, and a failed login is retried like any request.
        request = requests.Request(*args, **kwargs)
        request.headers.setdefault("User-Agent", self.user_agent)
        return self.requests_session.prepare_request(request)

    @property
    def throttle(self) -> SourceThrottle:
        """The request rate of this source, shared by all its streams and threads."""
        rate = self.source_config.get("requests_per_second")
        return self.shared("throttle", lambda: SourceThrottle(float(rate) if rate else None))

    @property
    def request_policy(self) -> RequestPolicy:
        """How this stream's requests are retried, paced and counted."""
        return RequestPolicy(
            label=f"{self.source_label} {self.name}",
            logger=self.logger,
            max_tries=int(self.config["max_retries"]) + 1,
            timing=RetryTiming(
                self.retry_base_seconds, self.retry_max_seconds, self.retry_after_max_seconds
            ),
            throttle=self.throttle,
            reachability=host_reachability(self.run_context, self.never_answered_give_up_seconds),
            count=self.run_stats.add,
            before_page=prefetch.before_page_request,
            page_received=prefetch.page_received,
        )

    @override
    def backoff_wait_generator(self) -> Generator[float, Any, None]:
        return self.request_policy.wait_generator()

    @override
    def request_decorator(
        self, func: Callable[..., requests.Response]
    ) -> Callable[..., requests.Response]:
        """Retry under the request policy, then turn a final failure into one clear line."""
        send = self.request_policy.wrap(func)

        def request(
            prepared_request: requests.PreparedRequest, context: Context | None
        ) -> requests.Response:
            try:
                return send(prepared_request, context)
            except RequestFailedError as failure:
                raise self.source_error(
                    prepared_request, context, failure.status, failure.detail
                ) from None

        return request

    # Answers.

    @override
    def validate_response(self, response: requests.Response) -> None:
        check_response(response, self, self.authenticator)

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        """The records under ``records_key`` (none if it is null or absent)."""
        if self.records_key is None:
            msg = f"{type(self).__name__} declares no records_key: it must read its answers"
            raise NotImplementedError(msg)
        records: list[dict[str, Any]] = decoded_json(response).get(self.records_key) or []
        return records

    def body_problem(self, body: Any) -> str | None:  # noqa: ANN401 - any JSON value
        """Say what is wrong with a parsed body's shape, or None: with ``records_key``, an
        object whose records are a list of objects; vendors override to say more."""
        if self.records_key is None:
            return None
        if not isinstance(body, dict):
            return f"body is a JSON {type(body).__name__}, not an object"
        return entries_problem(self.records_key, body.get(self.records_key))

    def rejection_detail(self, response: requests.Response) -> str:
        """What to say about a 4xx answer; vendors override to read their error bodies."""
        return rejection_detail(response)

    def credentials_rejected_detail(self) -> str:
        """What a fatal 401 says; sources override to name their settings."""
        return (
            f"{self.source_label} rejected the credentials; check the "
            f"'{self.source}' section of the config"
        )

    # The one-line errors.

    def source_error(
        self,
        request: requests.PreparedRequest,
        context: Context | None,
        status: int | None,
        detail: str,
    ) -> SourceAPIError:
        """Build the one-line fatal error naming source, stream, partition and status."""
        return SourceAPIError(
            source=self.source_label,
            stream=self.name,
            partition=self.describe_partition(request, context),
            status=status,
            detail=REDACTOR.redact(detail),
        )

    def describe_partition(
        self, request: requests.PreparedRequest, context: Context | None
    ) -> str | None:
        """Name the partition and the request's window/page for an error line."""
        parts = [f"{key}={value}" for key, value in (context or {}).items()]
        if self.described_params and request.url:
            params = parse_qs(urlsplit(request.url).query)
            parts.extend(
                f"{name}={params[name][0]}" for name in self.described_params if name in params
            )
        return ", ".join(parts) or None

    def replication_key_from_sample(self, records: list[dict[str, Any]]) -> str | None:  # noqa: ARG002 - a hook
        """The replication key that records read by discovery sampling show, where it
        differs from the stream's; None keeps the stream's (every vendor that documents its
        fields fixes it)."""
        return None

    def unreadable_data_error(self, exc: Exception, context: Context | None) -> SourceAPIError:
        """The one-line error for a record the tap cannot read (see :func:`reads_records`)."""
        text = " ".join(f"{type(exc).__name__}: {exc}".split())[:BODY_EXCERPT_CHARS]
        return self.record_error(context, f"a record the tap cannot read ({text})")

    def record_error(self, context: Context | None, detail: str) -> SourceAPIError:
        """The one-line error for a record of ``context`` (no request or status to name)."""
        partition = ", ".join(f"{key}={value}" for key, value in (context or {}).items())
        return SourceAPIError(
            source=self.source_label,
            stream=self.name,
            partition=partition or None,
            status=None,
            detail=REDACTOR.redact(detail),
        )

    # Records, STATE and logs.

    @override
    def before_record_message(self, record: dict[str, Any]) -> dict[str, Any]:
        # Schema evolution: a record with a field the current schema does not declare gets
        # a new SCHEMA message before it.
        if self._schema_follower is None:
            self._schema_follower = SchemaFollower(self, self.logger)
        self._schema_follower.before_record(record)
        return record

    @override
    def state_write_allowed(self) -> bool:
        return self.bookmarks.throttle_allows()

    @override
    def last_state_block(self) -> AbstractContextManager[None]:
        return self.bookmarks.final()

    @override
    def finalize_state_progress_markers(self, state: dict[str, Any] | None = None) -> None:
        with self.bookmarks.final():  # a stream's last STATE always goes out
            super().finalize_state_progress_markers(state)
        # Called once per top-level stream after its sync (and, through it, per child).
        self.run_stats.log_summary()

    @override
    def get_record_counter(
        self, *, endpoint: str | None = None, log_interval: float = metrics.DEFAULT_LOG_INTERVAL
    ) -> metrics.Counter:
        tags: dict[str, Any] = {metrics.Tag.STREAM: self.name}
        if endpoint:
            tags[metrics.Tag.ENDPOINT] = endpoint
        return RunStatsCounter(self.run_stats, tags, log_interval)

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

    # ``tap-ticketlogs --test``.

    def check_connection(self) -> None:
        """Make one cheap authenticated request; raise the one-line error if it fails.

        The first page of the stream's first partition is requested (lazily: later pages
        are never fetched).
        """
        # Any partition proves the credentials, this shard's or not.
        configured = self.configured_partitions
        first = configured[0] if configured else None
        next(iter(self.request_records(self.connection_check_context(first))), None)

    def connection_check_context(self, partition: Context | None) -> Context | None:
        """The context of the request ``check_connection`` makes; windowed streams add one."""
        return partition
