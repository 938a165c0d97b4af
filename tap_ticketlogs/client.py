"""The shared REST base of every stream: URLs, retries, error mapping, redaction, windows.

Vendor packages subclass :class:`TicketLogsStream` (and :class:`WindowedStream` for APIs that
filter by a time range) and only declare what differs: path, paginator, parameters, records.
"""

from __future__ import annotations

import datetime as dt
import decimal
import email.utils
import functools
import logging
import random
import sys
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar
from urllib.parse import parse_qs, urlsplit

import backoff
import msgspec
import requests
from singer_sdk import RESTStream, Tap, metrics
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from singer_sdk.helpers.conform import TypeConformanceLevel
from typing_extensions import override

from tap_ticketlogs.credentials import CredentialAuthenticator
from tap_ticketlogs.errors import SourceAPIError, TicketLogsError
from tap_ticketlogs.http_session import CredentialSafeSession, RefusedRequestError
from tap_ticketlogs.prefetch import PagePrefetcher, before_page_request, page_received
from tap_ticketlogs.rate_limit import SourceThrottle
from tap_ticketlogs.reachability import (
    HostReachability,
    host_of,
    host_reachability,
    is_unanswered_connection,
)
from tap_ticketlogs.record_path import LeanRecordPath
from tap_ticketlogs.redaction import REDACTOR
from tap_ticketlogs.run_context import RunContext, run_context_of
from tap_ticketlogs.run_stats import RunStats, RunStatsCounter
from tap_ticketlogs.schema_evolution import SchemaFollower
from tap_ticketlogs.sdk_compat import BookmarkOwningStream, RecordHookStream, StateGatedStream
from tap_ticketlogs.sharding import shard_of
from tap_ticketlogs.state_throttle import StateThrottle, throttle_for
from tap_ticketlogs.timeutil import iter_windows, parse_datetime, to_rfc3339, utc_now

if TYPE_CHECKING:
    from backoff.types import Details
    from singer_sdk.helpers.types import Context

TToken = TypeVar("TToken")
T = TypeVar("T")
# (partition context items, window start, window end): one unit of concurrent work.
WindowKey = tuple[tuple[tuple[str, Any], ...], dt.datetime, dt.datetime]

# Longest piece of a response body quoted in an error line.
_BODY_EXCERPT_CHARS = 200
_MISSING = object()
#: Bodies are parsed once, with exact numbers (Decimal), as the SDK's own JSON reader does.
JSON_DECODER = msgspec.json.Decoder(float_hook=decimal.Decimal)
# What a value of an unexpected type or form raises on the record path.
_UNREADABLE_DATA = (TypeError, ValueError, KeyError, AttributeError, IndexError, ArithmeticError)
WINDOW_START = "window_start"
WINDOW_END = "window_end"


class RetriableResponseError(RetriableAPIError):
    """A response worth retrying: 429, 5xx, or a 200 whose body is not the promised JSON."""


class RejectedResponseError(FatalAPIError):
    """A response that retrying cannot fix; turned into a :class:`SourceAPIError` with context."""

    def __init__(self, status: int | None, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class CredentialsRefreshedError(RetriableAPIError):
    """A 401 after which the credentials were renewed: the same request is sent again."""


def retry_if_transient(response: requests.Response, what: str) -> None:
    """Raise a retriable error for a login or token answer worth retrying (429, 5xx).

    The stream request that needed the credential is then retried with the shared backoff,
    honouring the answer's ``Retry-After``; ``what`` names the request (``POST /token``).
    """
    status = response.status_code
    if status == HTTPStatus.TOO_MANY_REQUESTS or status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        msg = f"{what}: HTTP {status} {response.reason}"
        raise RetriableResponseError(msg, response)


def body_excerpt(response: requests.Response) -> str:
    """A short, single-line, redacted excerpt of a response body for an error line."""
    text = " ".join(response.text.split())
    if len(text) > _BODY_EXCERPT_CHARS:
        text = text[:_BODY_EXCERPT_CHARS] + "…"
    return REDACTOR.redact(text)


def decoded_json(response: requests.Response) -> Any:  # noqa: ANN401 - any JSON value
    """Parse a JSON body once per response (validation and paging share it).

    A body that is not JSON (truncated, an HTML error page behind a 200) is retried.
    """
    cached = response.__dict__.get("_ticketlogs_json", _MISSING)
    if cached is not _MISSING:
        return cached
    try:
        body = JSON_DECODER.decode(response.content)
    except (msgspec.DecodeError, UnicodeDecodeError):
        content_type = response.headers.get("Content-Type", "no content type")
        msg = f"HTTP {response.status_code} body is not JSON ({content_type})"
        raise RetriableResponseError(msg, response) from None
    response.__dict__["_ticketlogs_json"] = body
    return body


def entries_problem(name: str, entries: Any) -> str | None:  # noqa: ANN401 - any JSON value
    """What is wrong with a body's list of entries, or None (None itself is an empty page).

    Every entry must be an object: a null or a number in the list would otherwise reach
    the record path and fail there with a traceback instead of this line.
    """
    if entries is None:
        return None
    if not isinstance(entries, list):
        return f"'{name}' is a JSON {type(entries).__name__}, not a list"
    wrong = [entry for entry in entries if not isinstance(entry, dict)][:1]
    if wrong:
        kind = "null" if wrong[0] is None else type(wrong[0]).__name__
        return f"'{name}' holds a JSON {kind}, not an object"
    return None


def transport_problem(exc: requests.RequestException, request: requests.PreparedRequest) -> str:
    """Say in a few words why no HTTP answer came (no URL: it may carry query secrets)."""
    host = urlsplit(request.url or "").netloc
    reason = exc.args[0] if exc.args else exc
    # urllib3 wraps the socket error: keep its last clause, e.g. "[Errno 111] Connection refused".
    text = str(getattr(reason, "reason", reason)).rsplit(": ", 1)[-1].rstrip("'\")")
    return f"{type(exc).__name__} talking to {host}: {REDACTOR.redact(text)}"


def retry_after_seconds(response: requests.Response | None, *, now: dt.datetime) -> float | None:
    """Read a ``Retry-After`` header given as seconds or as an HTTP-date."""
    if response is None:
        return None
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return max(0.0, (when - now).total_seconds())


def _naming_unreadable_data(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``get_records`` (made a generator, if it was not) or ``post_process`` of a
    stream class: an unexpected value on the record path becomes the stream's one-line
    error."""
    if name == "get_records":

        @functools.wraps(method)
        def records(self: TicketLogsStream[Any], context: Context | None) -> Iterator[Any]:
            try:
                yield from method(self, context)
            except _UNREADABLE_DATA as exc:
                raise self.unreadable_data_error(exc, context) from None

        return records

    @functools.wraps(method)
    def guarded(self: TicketLogsStream[Any], row: Any, context: Context | None = None) -> Any:  # noqa: ANN401
        try:
            return method(self, row, context)
        except _UNREADABLE_DATA as exc:
            raise self.unreadable_data_error(exc, context) from None

    return guarded


class TicketLogsStream(
    LeanRecordPath, StateGatedStream, BookmarkOwningStream, RecordHookStream, RESTStream[TToken]
):
    """Base of every stream: one vendor section of the config, one error vocabulary."""

    #: The config section this stream reads (``tixngo``, ``akana``, ...).
    source: ClassVar[str]
    #: How the source is named in log and error lines.
    source_label: ClassVar[str]
    #: The context key that names a partition (``mobile_app_id``...), if partitioned.
    partition_key: ClassVar[str | None] = None
    #: Query parameters worth naming in an error line (time windows, offsets).
    described_params: ClassVar[tuple[str, ...]] = ()

    #: Most page slots its prefetcher held at once (requests in flight included).
    peak_pages_held: int = 0

    #: First retry delay, doubled per attempt up to ``retry_max_seconds``, plus jitter.
    retry_base_seconds: ClassVar[float] = 0.5
    retry_max_seconds: ClassVar[float] = 60.0
    #: A server's ``Retry-After`` is honoured up to this long (beyond: a misconfigured hint).
    retry_after_max_seconds: ClassVar[float] = 900.0
    #: A host that has not answered once since the run started (connection refused, name
    #: not resolved) is given up on this long after its first failure (see reachability).
    never_answered_give_up_seconds: ClassVar[float] = 15.0

    # Records are parsed JSON plus values the streams normalise themselves (UTC strings,
    # integers): already JSON types, so the SDK's per-field conformance pass is skipped.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    extra_retry_statuses: ClassVar[tuple[int, ...]] = (HTTPStatus.TOO_MANY_REQUESTS,)  # type: ignore[misc]

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        # Stream.sync is final, so the record path is guarded where each class defines it.
        for name in ("get_records", "post_process"):
            if name in cls.__dict__:
                setattr(cls, name, _naming_unreadable_data(name, cls.__dict__[name]))

    def unreadable_data_error(self, exc: Exception, context: Context | None) -> SourceAPIError:
        """The one-line error for a record the tap cannot read (a list where a date-time
        was, a string where a number was), instead of a traceback. Nothing is skipped: the
        bookmark has not moved past that record."""
        text = " ".join(f"{type(exc).__name__}: {exc}".split())[:_BODY_EXCERPT_CHARS]
        partition = ", ".join(f"{key}={value}" for key, value in (context or {}).items())
        return SourceAPIError(
            source=self.source_label,
            stream=self.name,
            partition=partition or None,
            status=None,
            detail=REDACTOR.redact(f"a record the tap cannot read ({text})"),
        )

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

    @override
    def backoff_max_tries(self) -> int:
        return int(self.config.get("max_retries", 8)) + 1

    @override
    def backoff_wait_generator(self) -> Generator[float, Any, None]:
        """Exponential delays, or the server's ``Retry-After`` when it gives one."""
        attempt = 0
        exception = yield 0.0  # primed by backoff before the first failure
        while True:
            attempt += 1
            response = getattr(exception, "response", None)
            hint = retry_after_seconds(response, now=utc_now())
            if hint is not None:
                delay = min(hint, self.retry_after_max_seconds)
            else:
                delay = min(self.retry_base_seconds * 2 ** (attempt - 1), self.retry_max_seconds)
            exception = yield delay

    @override
    def backoff_jitter(self, value: float) -> float:
        # Up to 10 % more, never less: a Retry-After is a minimum, not a suggestion.
        return value * (1.0 + 0.1 * random.random())  # noqa: S311 - jitter, not crypto

    @override
    def backoff_handler(self, details: Details) -> None:
        self.run_stats.add(retries=1)
        exception = details.get("exception")
        response = getattr(exception, "response", None)
        if getattr(response, "status_code", None) == HTTPStatus.TOO_MANY_REQUESTS:
            # The API asked this source to slow down: every thread waits, not only this one.
            self.throttle.pause(float(details.get("wait") or 0.0))
        cause = (
            f"HTTP {response.status_code}"
            if isinstance(response, requests.Response)
            else type(exception).__name__
        )
        self.logger.warning(
            "%s %s: %s; retry %d of %d in %.1f s",
            self.source_label,
            self.name,
            cause,
            details.get("tries", 0),
            self.backoff_max_tries() - 1,
            details.get("wait", 0.0),
        )

    @override
    def request_decorator(
        self, func: Callable[..., requests.Response]
    ) -> Callable[..., requests.Response]:
        """Retry as the SDK does, then turn any final failure into one clear line."""

        throttle = self.throttle

        def attempt(prepared_request: requests.PreparedRequest, *args: Any) -> requests.Response:  # noqa: ANN401
            throttle.acquire()
            self.run_stats.add(requests=1)
            try:
                response = func(prepared_request, *args)
            except (RetriableAPIError, FatalAPIError) as exc:
                if getattr(exc, "response", None) is not None:
                    self.reachability.answered(host_of(prepared_request))
                raise
            self.reachability.answered(host_of(prepared_request))
            return response

        def gives_up(exc: Exception) -> bool:
            return is_unanswered_connection(exc) and self.reachability.gives_up(
                host_of(getattr(exc, "request", None))
            )

        # The SDK's decorator, less its logger: backoff_handler already logs one redacted
        # line per retry, and the final failure is the one-line error below.
        retrying: Callable[..., requests.Response] = backoff.on_exception(
            self.backoff_wait_generator,
            (
                ConnectionResetError,
                RetriableAPIError,
                requests.exceptions.Timeout,
                requests.exceptions.ConnectionError,
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError,
            ),
            max_tries=self.backoff_max_tries,
            giveup=gives_up,
            on_backoff=self.backoff_handler,
            jitter=self.backoff_jitter,
            logger=None,
        )(attempt)

        def send(
            prepared_request: requests.PreparedRequest, context: Context | None
        ) -> requests.Response:
            before_page_request()  # a prefetching worker waits here for a page slot
            try:
                response = retrying(prepared_request, context)
            except (RejectedResponseError, RefusedRequestError) as exc:
                raise self.source_error(prepared_request, context, exc.status, exc.detail) from None
            except RetriableAPIError as exc:
                status = exc.response.status_code if exc.response is not None else None
                detail = f"{exc} (gave up after {self.backoff_max_tries()} attempts)"
                raise self.source_error(prepared_request, context, status, detail) from None
            except requests.RequestException as exc:
                host = host_of(getattr(exc, "request", None) or prepared_request)
                given_up = (
                    "no answer from this host since the run started"
                    if self.reachability.never_answered(host)
                    else f"gave up after {self.backoff_max_tries()} attempts"
                )
                detail = f"{transport_problem(exc, prepared_request)} ({given_up})"
                raise self.source_error(prepared_request, context, None, detail) from None
            self.run_stats.add(pages=1)
            page_received(len(response.content))
            return response

        return send

    # Schema evolution (schema_evolution.py): a record with a field the current schema does
    # not declare gets a new SCHEMA message before it (hook: sdk_compat entry 9).
    _schema_follower: SchemaFollower | None = None

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

    @property
    def reachability(self) -> HostReachability:
        """Which hosts answered during this run (shared by every stream of the tap)."""
        return host_reachability(self.run_context, self.never_answered_give_up_seconds)

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
        with self.state_throttle.final():  # a stream's last STATE always goes out
            super().finalize_state_progress_markers(state)
        # Called once per top-level stream after its sync (and, through it, per child).
        self.run_stats.log_summary()

    @property
    def state_throttle(self) -> StateThrottle:
        """One per run: how often STATE may be written (``state_interval_seconds``)."""
        return self.run_context.get_or_create("state_throttle", lambda: throttle_for(self.config))

    @override
    def state_write_allowed(self) -> bool:
        # A dry run (the SDK's record-limited test sync) never calls finalize: it writes
        # every STATE, as it always did.
        return self.ABORT_AT_RECORD_COUNT is not None or self.state_throttle.allow()

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

    @override
    def validate_response(self, response: requests.Response) -> None:
        status = response.status_code
        auth = self.authenticator
        renewing = auth if isinstance(auth, CredentialAuthenticator) else None
        if status == HTTPStatus.UNAUTHORIZED:
            # The one rule for every source (credentials.py): renewed once, then fatal.
            if renewing is not None and renewing.credential.renew_after_rejection(
                renewing.credential_sent(response.request)
            ):
                msg = "credentials renewed after HTTP 401"
                raise CredentialsRefreshedError(msg, response)
            raise RejectedResponseError(status, self.credentials_rejected_detail())
        if renewing is not None and status < HTTPStatus.BAD_REQUEST:
            renewing.credential.accepted(renewing.credential_sent(response.request))
        if status in self.extra_retry_statuses or status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            msg = f"HTTP {status} {response.reason}"
            raise RetriableResponseError(msg, response)
        if status >= HTTPStatus.BAD_REQUEST:
            raise RejectedResponseError(status, self.rejection_detail(response))
        if status != HTTPStatus.NO_CONTENT:  # every 2xx but 204 must carry the promised JSON
            problem = self.body_problem(decoded_json(response))
            if problem:
                raise RejectedResponseError(status, f"unexpected response: {problem}")

    def body_problem(self, body: Any) -> str | None:  # noqa: ANN401, ARG002 - any JSON value
        """Say what is wrong with a parsed body's shape, or None; vendors override."""
        return None

    def rejection_detail(self, response: requests.Response) -> str:
        """What to say about a 4xx answer; vendors override to read their error bodies."""
        excerpt = body_excerpt(response)
        return f"{response.reason}: {excerpt}" if excerpt else str(response.reason)

    def credentials_rejected_detail(self) -> str:
        """What a fatal 401 says; sources override to name their settings."""
        return (
            f"{self.source_label} rejected the credentials; check the "
            f"'{self.source}' section of the config"
        )

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

    def extraction_end(self) -> dt.datetime:
        """Upper bound of this run: ``end_date`` or now minus the lag, never the future.

        Fixed at first use for the whole run, so every stream, partition and worker thread
        ends at the same instant (a parent's list and its children's logs agree).
        """

        def compute() -> dt.datetime:
            end = utc_now() - dt.timedelta(minutes=float(self.config.get("lag_minutes", 15)))
            if self.config.get("end_date"):
                end = min(parse_datetime(self.config["end_date"]), end)
            return end

        return self.run_context.get_or_create("extraction_end", compute)

    def bookmark(self, context: Context | None) -> dt.datetime:
        """Where a partition (or, with ``None``, the stream) resumes: its bookmark, or
        ``start_date``, whichever is later."""
        start = parse_datetime(self.config["start_date"])
        state = self.get_context_state(context)
        if state.get("replication_key") == self.replication_key and state.get(
            "replication_key_value"
        ):
            start = max(start, parse_datetime(state["replication_key_value"]))
        return start

    def write_bookmark(self, context: Context | None, value: dt.datetime) -> None:
        """Set the bookmark of a partition (or, with ``None``, the stream) and emit STATE.

        Only for streams that own their bookmark: called once every record before
        ``value`` has been emitted, so a resumed run never skips one.
        """
        state = self.get_context_state(context)
        state["replication_key"] = self.replication_key
        state["replication_key_value"] = to_rfc3339(value)
        if self.state_write_allowed():
            # The tap's state writer emits STATE only when it changed since the last one.
            self._run_tap.state_writer.write_state(self.tap_state)
        else:
            # Held back by the STATE throttle: the SDK's next STATE (at the latest, the
            # stream's last) carries it.
            self.state_manager.is_flushed = False

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
        return dt.timedelta(hours=float(self.source_config.get("window_hours", 24)))

    def windows(self, context: Context | None) -> list[tuple[dt.datetime, dt.datetime]]:
        """The windows this run reads for a partition, oldest first."""
        return list(iter_windows(self.bookmark(context), self.extraction_end(), self.window_width))

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        if context is None and self.partition_key:
            # Every partition belongs to another shard: the SDK then reads a stream once
            # without a partition, as if it had none.
            return
        prefetcher = self._window_prefetcher()
        for window_start, window_end in self.windows(context):
            for page in prefetcher.pages(_window_key(context, window_start, window_end)):
                self.page_started()
                yield from page
            self.checkpoint(context, window_end)
        self.peak_pages_held = prefetcher.peak_slots

    @override
    def connection_check_context(self, partition: Context | None) -> Context | None:
        # The latest window of the run: the most likely to be small, never in the future.
        end = self.extraction_end()
        return {
            **(partition or {}),
            WINDOW_START: to_rfc3339(end - self.window_width),
            WINDOW_END: to_rfc3339(end),
        }

    def _window_prefetcher(self) -> PagePrefetcher[WindowKey]:
        """One prefetcher per run, planned with every window of every partition, in order."""
        if self._prefetcher is None:
            self._prefetcher = PagePrefetcher(
                self._fetch_window, max_workers=int(self.config.get("max_concurrency", 8))
            )
            self._prefetcher.plan(
                _window_key(partition, start, end)
                for partition in self.partitions or [{}]
                for start, end in self.windows(partition or None)
            )
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
        self.write_bookmark(context, window_end)


def _window_key(
    context: Context | None, window_start: dt.datetime, window_end: dt.datetime
) -> WindowKey:
    return (tuple(sorted((context or {}).items())), window_start, window_end)


class PrefetchingParentStream(TicketLogsStream[TToken]):
    """A parent (tickets, cases) whose children's logs are fetched concurrently.

    The parent list is read lazily, page by page (with ``max_concurrency`` above 1, its next
    page is fetched on a thread of its own while the current one is used, so the sync loop
    never waits for the list). Each parent record is announced to every selected child
    stream as soon as it is read, and handed to the SDK (which syncs its children) only
    once ``2 x max_concurrency`` later parents were announced: the children's requests run
    ahead on their worker threads while the SDK syncs one child context after the other,
    and the whole list is never held.
    """

    @override
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
        concurrency = int(self.config.get("max_concurrency", 8))
        lookahead_depth = 2 * concurrency
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

    _prefetcher: PagePrefetcher[tuple[tuple[str, Any], ...]] | None = None

    def plan(self, contexts: Iterable[Context]) -> None:
        if int(self.config.get("max_concurrency", 8)) == 1:
            return  # one request at a time: each parent's log is read when it is synced
        if self._prefetcher is None:
            self._prefetcher = PagePrefetcher(
                lambda key: self.fetch_partition(dict(key)),
                max_workers=int(self.config.get("max_concurrency", 8)),
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
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        assert context is not None  # a child is always synced for one parent
        if self._prefetcher is None:
            yield from self.fetch_partition(context)
            return
        for page in self._prefetcher.pages(tuple(sorted(context.items()))):
            self.page_started()
            yield from page
