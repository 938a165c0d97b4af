"""The request policy: one path for every request the tap sends, logins included.

:class:`RequestPolicy` wraps a request function with ``backoff``: retriable answers
(:class:`~tap_ticketlogs.http.responses.RetriableResponseError`, connection errors, timeouts)
wait an exponential delay or the server's ``Retry-After``, with jitter that only adds; every
attempt waits for the source's :class:`SourceThrottle` first, and a 429 pauses the whole
source; a host that never answered since the run started is given up on early
(:class:`HostReachability`). What cannot be retried, or is still failing at the last attempt,
becomes one :class:`RequestFailedError`, from which the stream makes its one-line error.

The policy knows nothing of streams: the stream that holds it passes in its collaborators
(the source's throttle, the run's reachability, its counters, the page hooks of the
prefetcher) and the names its log lines use.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import random
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import backoff
import requests
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

from tap_ticketlogs.http.responses import RejectedResponseError, transport_problem
from tap_ticketlogs.http.session import RefusedRequestError
from tap_ticketlogs.timeutil import utc_now

if TYPE_CHECKING:
    from backoff.types import Details

#: What a retried request may raise before it is given up on.
RETRIED_EXCEPTIONS = (
    ConnectionResetError,
    RetriableAPIError,
    requests.exceptions.Timeout,
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


class RequestFailedError(Exception):
    """A request that retrying cannot fix, or that failed at its last attempt."""

    def __init__(self, status: int | None, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


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


class SourceThrottle:
    """One request rate per source, shared by every thread, and a source-wide pause.

    Every attempt (retries included) waits for it: at most ``requests_per_second`` attempts
    start in any second, evenly spaced (a bucket of one token, so no burst goes above the
    rate). A 429 pauses the whole source for the delay the retry waits, so the other threads
    do not keep hammering an API that asked the tap to slow down.
    """

    def __init__(
        self,
        requests_per_second: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._interval = 1.0 / requests_per_second if requests_per_second else 0.0
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_start = 0.0  # when the next attempt may start
        self._paused_until = 0.0

    def acquire(self) -> None:
        """Wait until this source may start another request attempt."""
        while True:
            with self._lock:
                now = self._clock()
                ready = max(self._next_start, self._paused_until)
                if now >= ready:
                    # Spacing counts from the later of now and the slot: an idle source
                    # does not bank a burst.
                    self._next_start = max(now, self._next_start) + self._interval
                    return
                wait = ready - now
            self._sleep(wait)

    def pause(self, seconds: float) -> None:
        """No attempt of this source starts for ``seconds`` (after a 429)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)


class HostReachability:
    """Which hosts answered during this run, so retries wait only where waiting can help.

    A host that sent any HTTP answer (a 503 or a 429 included) is up and may be flaky: its
    connection failures are retried as usual. A host that has refused every connection, or
    whose name does not resolve, since the run started is most likely misconfigured or down:
    its requests give up once ``give_up_after`` seconds have passed since its first failure,
    instead of backing off through every retry. Thread-safe; one per run.
    """

    def __init__(self, give_up_after: float) -> None:
        self.give_up_after = give_up_after
        self._lock = threading.Lock()
        self._answered: set[str] = set()
        self._first_failure: dict[str, float] = {}

    def answered(self, host: str) -> None:
        """The host sent an HTTP answer: from now on it is only ever flaky."""
        with self._lock:
            self._answered.add(host)

    def never_answered(self, host: str) -> bool:
        with self._lock:
            return host not in self._answered

    def gives_up(self, host: str, now: float | None = None) -> bool:
        """After a failed connection: True if the host never answered and has failed for
        ``give_up_after`` seconds (the first failure starts the clock)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if host in self._answered:
                return False
            first = self._first_failure.setdefault(host, now)
            return now - first >= self.give_up_after


def host_of(request: requests.PreparedRequest | None) -> str:
    """``host:port`` of a request (never its path or query: they may carry secrets)."""
    return urlsplit(request.url or "").netloc if request is not None else ""


def is_unanswered_connection(exc: BaseException) -> bool:
    """No HTTP answer came over the connection (refused, unresolvable, connect timeout,
    closed before a status line); a body cut short after the headers is not this."""
    return isinstance(exc, requests.exceptions.ConnectionError)


def _no_page_hook(*_: Any) -> None:  # noqa: ANN401 - either hook's arguments
    """Outside a prefetcher's worker, pages need no accounting."""


@dataclass(frozen=True)
class RetryTiming:
    """Delays: ``base_seconds`` doubled per attempt up to ``max_seconds``, plus jitter; a
    server's ``Retry-After`` honoured up to ``retry_after_max_seconds`` (beyond: a
    misconfigured hint)."""

    base_seconds: float = 0.5
    max_seconds: float = 60.0
    retry_after_max_seconds: float = 900.0


@dataclass(frozen=True)
class RequestPolicy:
    """How one stream's requests are retried, paced, counted and given up on."""

    #: Names for the retry log lines (``TIXNGO tixngo_ticket_status_logs``).
    label: str
    logger: logging.Logger
    #: Attempts in all: ``max_retries`` + 1.
    max_tries: int
    timing: RetryTiming
    throttle: SourceThrottle
    reachability: HostReachability
    #: Counts ``requests``, ``retries`` and ``pages`` (keyword arguments).
    count: Callable[..., None]
    #: Called before each page's request (a prefetching worker waits there for a page slot)
    #: and with each page's response size: how the prefetcher tells pages apart.
    before_page: Callable[[], None] = _no_page_hook
    page_received: Callable[[int], None] = _no_page_hook

    def wait_generator(self) -> Generator[float, Any, None]:
        """Exponential delays, or the server's ``Retry-After`` when it gives one."""
        timing = self.timing
        attempt = 0
        exception = yield 0.0  # primed by backoff before the first failure
        while True:
            attempt += 1
            response = getattr(exception, "response", None)
            hint = retry_after_seconds(response, now=utc_now())
            if hint is not None:
                delay = min(hint, timing.retry_after_max_seconds)
            else:
                delay = min(timing.base_seconds * 2 ** (attempt - 1), timing.max_seconds)
            exception = yield delay

    @staticmethod
    def jitter(value: float) -> float:
        """Up to 10 % more, never less: a Retry-After is a minimum, not a suggestion."""
        return value * (1.0 + 0.1 * random.random())  # noqa: S311 - jitter, not crypto

    def on_retry(self, details: Details) -> None:
        """One redacted line per retry; a 429 pauses every thread of the source."""
        self.count(retries=1)
        exception = details.get("exception")
        response = getattr(exception, "response", None)
        if getattr(response, "status_code", None) == HTTPStatus.TOO_MANY_REQUESTS:
            self.throttle.pause(float(details.get("wait") or 0.0))
        cause = (
            f"HTTP {response.status_code}"
            if isinstance(response, requests.Response)
            else type(exception).__name__
        )
        self.logger.warning(
            "%s: %s; retry %d of %d in %.1f s",
            self.label,
            cause,
            details.get("tries", 0),
            self.max_tries - 1,
            details.get("wait", 0.0),
        )

    def wrap(
        self, func: Callable[..., requests.Response]
    ) -> Callable[[requests.PreparedRequest, Any], requests.Response]:
        """``func`` (the SDK's request) retried under this policy; a final failure raises
        :class:`RequestFailedError`."""
        throttle, reachability = self.throttle, self.reachability

        def attempt(prepared_request: requests.PreparedRequest, *args: Any) -> requests.Response:  # noqa: ANN401
            throttle.acquire()
            self.count(requests=1)
            try:
                response = func(prepared_request, *args)
            except (RetriableAPIError, FatalAPIError) as exc:
                if getattr(exc, "response", None) is not None:
                    reachability.answered(host_of(prepared_request))
                raise
            reachability.answered(host_of(prepared_request))
            return response

        def gives_up(exc: Exception) -> bool:
            return is_unanswered_connection(exc) and reachability.gives_up(
                host_of(getattr(exc, "request", None))
            )

        # The SDK's decorator, less its logger: on_retry logs one redacted line per retry,
        # and the final failure is the stream's one-line error.
        retrying: Callable[..., requests.Response] = backoff.on_exception(
            self.wait_generator,
            RETRIED_EXCEPTIONS,
            max_tries=self.max_tries,
            giveup=gives_up,
            on_backoff=self.on_retry,
            jitter=self.jitter,
            logger=None,
        )(attempt)

        def send(prepared_request: requests.PreparedRequest, *args: Any) -> requests.Response:  # noqa: ANN401
            self.before_page()
            try:
                response = retrying(prepared_request, *args)
            except (RejectedResponseError, RefusedRequestError) as exc:
                raise RequestFailedError(exc.status, exc.detail) from None
            except RetriableAPIError as exc:
                status = exc.response.status_code if exc.response is not None else None
                raise RequestFailedError(
                    status, f"{exc} (gave up after {self.max_tries} attempts)"
                ) from None
            except requests.RequestException as exc:
                host = host_of(getattr(exc, "request", None) or prepared_request)
                given_up = (
                    "no answer from this host since the run started"
                    if reachability.never_answered(host)
                    else f"gave up after {self.max_tries} attempts"
                )
                detail = f"{transport_problem(exc, prepared_request)} ({given_up})"
                raise RequestFailedError(None, detail) from None
            self.count(pages=1)
            self.page_received(len(response.content))
            return response

        return send
