"""Retries: one path for every request the tap sends, logins included.

:meth:`RetryingStream.request_decorator` wraps the SDK's request with ``backoff``: retriable
answers (:class:`RetriableResponseError`, connection errors, timeouts) wait an exponential
delay or the server's ``Retry-After``, with jitter that only adds; a 429 pauses the whole
source (its shared throttle); a host that never answered since the run started is given up
on early (reachability.py). The final failure becomes the stream's one-line error.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import random
from collections.abc import Callable, Generator
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, ClassVar

import backoff
import requests
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from typing_extensions import override

from tap_ticketlogs.http.reachability import (
    HostReachability,
    host_of,
    host_reachability,
    is_unanswered_connection,
)
from tap_ticketlogs.http.responses import (
    RejectedResponseError,
    ResponseErrorsStream,
    transport_problem,
)
from tap_ticketlogs.http.session import RefusedRequestError
from tap_ticketlogs.streams.prefetch import before_page_request, page_received
from tap_ticketlogs.timeutil import utc_now

if TYPE_CHECKING:
    from backoff.types import Details
    from singer_sdk.helpers.types import Context

    from tap_ticketlogs.http.rate_limit import SourceThrottle
    from tap_ticketlogs.streams.run_context import RunContext
    from tap_ticketlogs.streams.run_stats import RunStats


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


class RetryingStream(ResponseErrorsStream):
    """How a stream retries its requests and counts them (see the module docstring)."""

    #: First retry delay, doubled per attempt up to ``retry_max_seconds``, plus jitter.
    retry_base_seconds: ClassVar[float] = 0.5
    retry_max_seconds: ClassVar[float] = 60.0
    #: A server's ``Retry-After`` is honoured up to this long (beyond: a misconfigured hint).
    retry_after_max_seconds: ClassVar[float] = 900.0
    #: A host that has not answered once since the run started (connection refused, name
    #: not resolved) is given up on this long after its first failure (see reachability).
    never_answered_give_up_seconds: ClassVar[float] = 15.0

    if TYPE_CHECKING:  # provided by TicketLogsStream (client.py)
        run_stats: RunStats

        @property
        def throttle(self) -> SourceThrottle: ...

        @property
        def run_context(self) -> RunContext: ...

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

    @property
    def reachability(self) -> HostReachability:
        """Which hosts answered during this run (shared by every stream of the tap)."""
        return host_reachability(self.run_context, self.never_answered_give_up_seconds)
