"""How an HTTP answer becomes records or one clear error line.

Every response is checked here before a paginator or parser reads it
(:meth:`ResponseErrorsStream.validate_response`): 401 follows the one credential rule
(credentials.py), 429 and 5xx and a 200 that is not the promised JSON are retried
(retrying.py), any other 4xx or a body of the wrong shape is fatal. Fatal answers, exhausted
retries and a record the tap cannot read all end as one :class:`SourceAPIError` line naming
source, stream, partition and status, redacted.
"""

from __future__ import annotations

import decimal
import functools
from collections.abc import Callable, Iterator, Sequence
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import msgspec
import requests
from singer_sdk import RESTStream
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from typing_extensions import override

from tap_ticketlogs.errors import SourceAPIError
from tap_ticketlogs.http.credentials import CredentialAuthenticator
from tap_ticketlogs.http.redaction import REDACTOR

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

# Longest piece of a response body quoted in an error line.
_BODY_EXCERPT_CHARS = 200
_MISSING = object()
#: Bodies are parsed once, with exact numbers (Decimal), as the SDK's own JSON reader does.
JSON_DECODER = msgspec.json.Decoder(float_hook=decimal.Decimal)
# What a value of an unexpected type or form raises on the record path.
_UNREADABLE_DATA = (TypeError, ValueError, KeyError, AttributeError, IndexError, ArithmeticError)


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


def foreign_answer(
    body: Any,  # noqa: ANN401 - any JSON value
    answer_keys: Sequence[str],
    *,
    empty_is_a_page: bool = False,
) -> str | None:
    """Why a JSON object is not this endpoint's answer at all, or None.

    An object with none of the keys every answer of the endpoint carries is another
    server's JSON behind a 200 (a gateway's or proxy's error object when its upstream timed
    out): retried like an HTML page, never read as an empty page, which would move the
    bookmark past records never seen.
    """
    if not answer_keys or not isinstance(body, dict) or any(key in body for key in answer_keys):
        return None
    if not body and empty_is_a_page:
        return None
    keys = ", ".join(sorted(str(key) for key in body)[:5]) or "none"
    expected = " or ".join(f"'{key}'" for key in answer_keys)
    return f"an answer without {expected} (its keys: {keys}), not this endpoint's"


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


def _naming_unreadable_data(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``get_records`` (made a generator, if it was not) or ``post_process`` of a
    stream class: an unexpected value on the record path becomes the stream's one-line
    error."""
    if name == "get_records":

        @functools.wraps(method)
        def records(self: ResponseErrorsStream, context: Context | None) -> Iterator[Any]:
            try:
                yield from method(self, context)
            except _UNREADABLE_DATA as exc:
                raise self.unreadable_data_error(exc, context) from None

        return records

    @functools.wraps(method)
    def guarded(self: ResponseErrorsStream, row: Any, context: Context | None = None) -> Any:  # noqa: ANN401
        try:
            return method(self, row, context)
        except _UNREADABLE_DATA as exc:
            raise self.unreadable_data_error(exc, context) from None

    return guarded


class ResponseErrorsStream(RESTStream[Any]):
    """The error vocabulary of a stream: which answers are retried, which are fatal, and
    the one line a fatal one becomes."""

    #: The config section this stream reads (``tixngo``, ``akana``, ...).
    source: ClassVar[str]
    #: How the source is named in log and error lines.
    source_label: ClassVar[str]
    #: Query parameters worth naming in an error line (time windows, offsets).
    described_params: ClassVar[tuple[str, ...]] = ()

    extra_retry_statuses: ClassVar[tuple[int, ...]] = (HTTPStatus.TOO_MANY_REQUESTS,)  # type: ignore[misc]
    #: Keys of which every answer of the endpoint carries at least one (see
    #: :func:`foreign_answer`); empty: any JSON object is taken for an answer.
    answer_keys: ClassVar[tuple[str, ...]] = ()
    #: Whether ``{}`` is an answer (an empty page) rather than another server's JSON.
    empty_object_is_a_page: ClassVar[bool] = False

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
            body = decoded_json(response)
            foreign = foreign_answer(
                body, self.answer_keys, empty_is_a_page=self.empty_object_is_a_page
            )
            if foreign:
                msg = f"HTTP {status} {foreign}"
                raise RetriableResponseError(msg, response)
            problem = self.body_problem(body)
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
