"""What an HTTP answer means: records, a retry, or a fatal error (:func:`check_response`).

Every response is checked before a paginator or parser reads it: 401 follows the one
credential rule (credentials.py), 429 and 5xx and a 200 that is not the promised JSON are
retried (policy.py), any other 4xx or a body of the wrong shape is fatal. The stream turns a
fatal answer into its one-line error naming source, stream, partition and status.
"""

from __future__ import annotations

import decimal
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any, Protocol
from urllib.parse import urlsplit

import msgspec
import requests
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

from tap_ticketlogs.http.credentials import CredentialAuthenticator
from tap_ticketlogs.http.redaction import REDACTOR

#: Longest piece of a response body quoted in an error line.
BODY_EXCERPT_CHARS = 200
_MISSING = object()
#: Bodies are parsed once, with exact numbers (Decimal), as the SDK's own JSON reader does.
JSON_DECODER = msgspec.json.Decoder(float_hook=decimal.Decimal)


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
    if len(text) > BODY_EXCERPT_CHARS:
        text = text[:BODY_EXCERPT_CHARS] + "…"
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


class ResponseRules(Protocol):
    """What a stream says about its endpoint's answers (every stream is one)."""

    @property
    def answer_keys(self) -> tuple[str, ...]:
        """Keys of which every answer carries one (see :func:`foreign_answer`)."""

    @property
    def empty_object_is_a_page(self) -> bool:
        """Whether ``{}`` is an answer (an empty page) rather than another server's JSON."""

    @property
    def extra_retry_statuses(self) -> tuple[int, ...]:
        """Statuses besides 5xx that are retried (429)."""

    def body_problem(self, body: Any) -> str | None:  # noqa: ANN401 - any JSON value
        """What is wrong with a parsed body's shape, or None."""

    def rejection_detail(self, response: requests.Response) -> str:
        """What to say about a 4xx answer."""

    def credentials_rejected_detail(self) -> str:
        """What a fatal 401 says."""


def rejection_detail(response: requests.Response) -> str:
    """What a 4xx answer says, when the vendor's error body has nothing better."""
    excerpt = body_excerpt(response)
    return f"{response.reason}: {excerpt}" if excerpt else str(response.reason)


def check_response(
    response: requests.Response, rules: ResponseRules, authenticator: object
) -> None:
    """Raise what ``response`` means, before a paginator or parser reads it.

    401 follows the one credential rule (credentials.py): renewed once and retried, then
    fatal. 429, 5xx and a 2xx that is not the promised JSON are retried; any other 4xx or a
    body of the wrong shape is fatal (:class:`RejectedResponseError`).
    """
    status = response.status_code
    renewing = authenticator if isinstance(authenticator, CredentialAuthenticator) else None
    if status == HTTPStatus.UNAUTHORIZED:
        if renewing is not None and renewing.credential.renew_after_rejection(
            renewing.credential_sent(response.request)
        ):
            msg = "credentials renewed after HTTP 401"
            raise CredentialsRefreshedError(msg, response)
        raise RejectedResponseError(status, rules.credentials_rejected_detail())
    if renewing is not None and status < HTTPStatus.BAD_REQUEST:
        renewing.credential.accepted(renewing.credential_sent(response.request))
    if status in rules.extra_retry_statuses or status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        msg = f"HTTP {status} {response.reason}"
        raise RetriableResponseError(msg, response)
    if status >= HTTPStatus.BAD_REQUEST:
        raise RejectedResponseError(status, rules.rejection_detail(response))
    if status != HTTPStatus.NO_CONTENT:  # every 2xx but 204 must carry the promised JSON
        body = decoded_json(response)
        foreign = foreign_answer(
            body, rules.answer_keys, empty_is_a_page=rules.empty_object_is_a_page
        )
        if foreign:
            msg = f"HTTP {status} {foreign}"
            raise RetriableResponseError(msg, response)
        problem = rules.body_problem(body)
        if problem:
            raise RejectedResponseError(status, f"unexpected response: {problem}")
