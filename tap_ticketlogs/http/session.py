"""The one HTTP session every request of the tap goes through: credentials stay on their host.

Every request the tap sends (stream pages, Akana logins and renewals, the Socialboards token
POST, the Huawei IAM login) is sent by a :class:`CredentialSafeSession`. Its policy:

* **A redirect to another origin is refused**, before anything is sent to it, with one line
  naming the source and both hosts. The origin is scheme, host and port: a redirect from
  ``https://api.example`` to ``http://api.example`` or to ``https://api.example:8443`` is as
  foreign as one to another host.

  Refusing was chosen over following without credentials. Plain ``requests`` strips only
  ``Authorization`` (and only across hosts): a named API-key header, ``X-Auth-Token``, the
  Akana CSRF header and cookie, and a 307/308-replayed POST body with a password or a refresh
  token all went along. Following "without credentials" would mean listing every place a
  secret can hide and keeping that list right forever, and the unauthenticated request would
  then come back 401 and be reported as a wrong credential, not as the redirect it is. A
  refused redirect is one clear line that says where the API tried to send the tap.
* **Same-origin redirects are followed** (a moved path, a trailing slash) with every header
  of the original request, the Akana session cookie included (``requests`` would rebuild the
  ``Cookie`` header from its jar and drop a cookie that was set as a header).
* **No request leaves over plain http except to loopback**, also as a redirect target (the
  settings are validated the same way before any request; this is the last line).
* **Certificate verification cannot be turned off**: ``verify=False``, on the session or per
  request, raises instead of sending (a CA bundle path is still accepted).
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from singer_sdk.exceptions import FatalAPIError
from typing_extensions import override

from tap_ticketlogs.errors import TicketLogsError

# requests follows 30 redirects; an API that needs more than a few is misbehaving.
MAX_REDIRECTS = 5


class RefusedRequestError(FatalAPIError, TicketLogsError):
    """A request or redirect the session will not send; never retried.

    ``status`` is the HTTP status of the redirect that was refused (None when the request
    itself was refused), ``detail`` the one-line reason without any URL path or query.
    """

    def __init__(self, status: int | None, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, lower-cased host and port (default port filled in) of a URL."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        port = {"https": 443, "http": 80}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port


def describe_origin(url: str) -> str:
    """``scheme://host:port`` of a URL: never its path or query, which may carry secrets."""
    scheme, host, port = origin(url)
    return f"{scheme}://{host}:{port}" if port else f"{scheme}://{host}"


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def transport_problem(url: str) -> str | None:
    """Why a URL may not be requested at all, or None: only https, or http on loopback."""
    scheme, host, _ = origin(url)
    if scheme == "https" and host:
        return None
    if scheme == "http" and host and is_loopback_host(host):
        return None
    return f"{describe_origin(url)} is not https (plain http only on loopback)"


class CredentialSafeSession(requests.Session):
    """A :class:`requests.Session` that never carries credentials off their origin."""

    def __init__(self) -> None:
        super().__init__()
        self.max_redirects = MAX_REDIRECTS

    @override
    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        if self.verify is False or kwargs.get("verify") is False:
            msg = "certificate verification cannot be turned off"
            raise RefusedRequestError(None, msg)
        problem = transport_problem(request.url or "")
        if problem:
            raise RefusedRequestError(None, f"refused a request to {problem}")
        if kwargs.get("stream"):
            return super().send(request, **kwargs)
        # requests reads a body it was not asked to stream in chunks of 10 KiB, a Python
        # round trip through urllib3 each: 7-9 ms of CPU (under the GIL) for a 2.5 MB page of
        # 10 000 entries. One read as it arrives (``chunk_size=None``) takes 2 ms, with the
        # same errors (requests maps a cut or undecodable body as it does for ``content``).
        response = super().send(request, **{**kwargs, "stream": True})
        response._content = b"".join(response.iter_content(chunk_size=None))
        return response

    @override
    def rebuild_auth(
        self, prepared_request: requests.PreparedRequest, response: requests.Response
    ) -> None:
        # Called by resolve_redirects for every hop, after the next request is prepared and
        # before it is sent: the last moment to stop it.
        previous = response.request
        source_url = previous.url or ""
        target_url = urljoin(source_url, prepared_request.url or "")
        if origin(target_url) != origin(source_url):
            msg = (
                f"refused an HTTP {response.status_code} redirect from "
                f"{describe_origin(source_url)} to {describe_origin(target_url)}: credentials "
                "never leave the host they were configured for; check the base URL"
            )
            raise RefusedRequestError(response.status_code, msg)
        problem = transport_problem(target_url)
        if problem:
            msg = f"refused an HTTP {response.status_code} redirect to {problem}"
            raise RefusedRequestError(response.status_code, msg)
        # Same origin: the hop is the same request, credentials included. requests drops a
        # Cookie header set by hand (it rebuilds Cookie from its jar); put it back, with any
        # cookie the redirect response set taking precedence.
        sent_cookie = previous.headers.get("Cookie")
        if sent_cookie:
            prepared_request.headers["Cookie"] = _merged_cookies(
                sent_cookie, prepared_request.headers.get("Cookie")
            )

    @override
    def should_strip_auth(self, old_url: str, new_url: str) -> bool:
        # Only reached for same-origin hops (rebuild_auth refuses the others): keep auth.
        return origin(old_url) != origin(new_url)


def _merged_cookies(sent: str, from_jar: str | None) -> str:
    pairs: dict[str, str] = {}
    for header in (sent, from_jar or ""):
        for pair in header.split(";"):
            name, sep, _ = pair.strip().partition("=")
            if sep and name:
                pairs[name] = pair.strip()
    return "; ".join(pairs.values())
