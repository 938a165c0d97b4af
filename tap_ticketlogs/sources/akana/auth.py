"""Akana platform sessions: the ``AtmoAuthToken_{fedmemberid}`` cookie and the CSRF header.

Two ways to hold a session (the vendor's "Session cookies" page; docs/sources.md):

- a cookie value the user copied (``auth_token``, optionally ``csrf_token``): sent as is, never
  renewed (its age is unknown to the tap);
- ``email`` + ``password``: ``POST /api/login`` returns the cookie in ``Set-Cookie`` (platform
  8.0 and later), plus a ``Csrf-Token_{fedmemberid}`` cookie when CSRF prevention is on. The
  cookie lives about 30 minutes, so it is renewed (``POST /api/login/renewToken``) once it is
  25 minutes old, and the tap logs in again when renewing fails or when a request is answered
  401 (the shared rule of ``credentials.py``: once per rejected cookie; a cookie from such a
  login that is rejected before it ever worked is fatal).

Windows are fetched from several threads at once: one lock (the credential's) guards every
login and renewal, and a thread that finds the cookie already replaced by another thread
does not log in again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from typing import Any

import requests
from singer_sdk.authenticators import APIAuthenticatorBase
from typing_extensions import override

from tap_ticketlogs.http.credentials import CredentialAuthenticator, RenewableCredential
from tap_ticketlogs.http.login_gate import LoginGate
from tap_ticketlogs.http.redaction import REDACTOR
from tap_ticketlogs.http.responses import (
    RejectedResponseError,
    RetriableResponseError,
    body_excerpt,
    decoded_json,
    retry_if_transient,
)
from tap_ticketlogs.http.session import CredentialSafeSession
from tap_ticketlogs.timeutil import utc_now

LOGIN_PATH = "/api/login"
RENEW_PATH = "/api/login/renewToken"
# The platform cookie is valid for about 30 minutes (docs/sources.md). Renewing 5 minutes early
# leaves room for clock skew and for requests already in flight with the old cookie.
SESSION_LIFETIME = dt.timedelta(minutes=30)
RENEW_MARGIN = dt.timedelta(minutes=5)


def cookie_name(fed_member_id: str) -> str:
    return f"AtmoAuthToken_{fed_member_id}"


def csrf_cookie_name(fed_member_id: str) -> str:
    return f"Csrf-Token_{fed_member_id}"


def csrf_header_name(fed_member_id: str) -> str:
    return f"X-Csrf-Token_{fed_member_id}"


def cookie_from_header(header: str | None, name: str) -> str | None:
    """The value of cookie ``name`` in a ``Cookie`` request header, or None."""
    for pair in (header or "").split(";"):
        key, sep, value = pair.strip().partition("=")
        if sep and key == name:
            return value
    return None


def with_cookie(header: str | None, name: str, value: str) -> str:
    """A ``Cookie`` header with ``name=value`` set, other cookies (load balancers...) kept.

    Akana cookie values contain ``=`` and ``,`` (``TokenID=...,expirationTime=...``, usually
    URL-encoded); they are sent verbatim, as the platform issued them.
    """
    others = [
        pair.strip()
        for pair in (header or "").split(";")
        if pair.strip() and pair.strip().partition("=")[0] != name
    ]
    return "; ".join([*others, f"{name}={value}"])


def set_cookie_values(response: requests.Response) -> dict[str, str]:
    """Cookies a response sets, read from its raw ``Set-Cookie`` headers.

    Read directly rather than through a cookie jar: a jar applies domain and ``Secure``
    policies meant for browsers and may silently drop the platform cookie.
    """
    raw = getattr(response.raw, "headers", None)
    headers: list[str] = (
        list(raw.getlist("Set-Cookie"))
        if raw is not None and hasattr(raw, "getlist")
        else [response.headers.get("Set-Cookie", "")]
    )
    values: dict[str, str] = {}
    for header in headers:
        name, sep, rest = header.strip().partition("=")
        if not sep or not name:
            continue
        value = rest.split(";", 1)[0].strip()
        if value.startswith('"') and value.endswith('"') and len(value) > 1:
            try:
                parsed = SimpleCookie()
                parsed.load(f"{name}={value}")
                value = parsed[name].value
            except CookieError:
                value = value[1:-1]
        values[name] = value
    return values


class AkanaSession:
    """The current platform cookie and CSRF token, obtained and renewed as configured."""

    def __init__(
        self,
        *,
        base_url: str,
        fed_member_id: str,
        auth_token: str | None = None,
        csrf_token: str | None = None,
        email: str | None = None,
        password: str | None = None,
        timeout: float = 60,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.cookie_name = cookie_name(fed_member_id)
        self.csrf_cookie_name = csrf_cookie_name(fed_member_id)
        self.csrf_header_name = csrf_header_name(fed_member_id)
        self._email = email or None
        self._password = password or None
        self._timeout = timeout
        self._clock = clock
        self._http = CredentialSafeSession()
        self._login_gate = LoginGate()
        self.credential = RenewableCredential(
            obtain=self._login if self.can_login else None, value=auth_token
        )
        self._csrf: str | None = csrf_token or None
        # When the tap itself obtained the current cookie; None for a configured cookie.
        self._obtained_at: dt.datetime | None = None
        self.logins = 0
        self.renewals = 0
        REDACTOR.add(auth_token, self._csrf, self._password)

    @classmethod
    def from_section(cls, section: Mapping[str, Any], *, timeout: float) -> AkanaSession:
        return cls(
            base_url=str(section["base_url"]),
            fed_member_id=str(section["fed_member_id"]),
            auth_token=section.get("auth_token"),
            csrf_token=section.get("csrf_token"),
            email=section.get("email"),
            password=section.get("password"),
            timeout=timeout,
        )

    @property
    def can_login(self) -> bool:
        return bool(self._email and self._password)

    def credentials(self) -> tuple[str | None, str | None]:
        """The cookie value and CSRF token to send now (no network)."""
        with self.credential.lock:
            return self.credential.value, self._csrf

    def ensure_fresh(self) -> None:
        """Log in when there is no cookie yet; renew one the tap obtained before it expires."""
        if self.can_login:
            self.credential.current(due=self._aged, refresh=self._renew_or_login)

    def _aged(self) -> bool:
        return (
            self._obtained_at is not None
            and self._clock() - self._obtained_at >= SESSION_LIFETIME - RENEW_MARGIN
        )

    def _login(self) -> str:
        return self._login_gate.run(self._send_login)

    def _send_login(self) -> str:
        # The cookie is read from the response and sent explicitly: nothing from a previous
        # session may ride along in the login session's own jar.
        self._http.cookies.clear()
        response = self._http.post(
            self.base_url + LOGIN_PATH,
            json={"email": self._email, "password": self._password},
            headers={"Accept": "application/json"},
            timeout=self._timeout,
        )
        status = response.status_code
        if status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
            raise RejectedResponseError(
                status,
                f"Akana rejected the login (POST {LOGIN_PATH}); "
                "check akana.email and akana.password",
            )
        self._raise_for_status(response, f"POST {LOGIN_PATH}")
        cookies = set_cookie_values(response)
        token = cookies.get(self.cookie_name)
        if not token:
            # A gateway's HTML page or a cut-off answer behind a 200 is transient: retried.
            decoded_json(response)
            # Platforms before 8.0 returned the token in the body; its shape is not
            # documented, so the tap asks for a configured cookie instead of guessing.
            detail = (
                f"Akana login answered without a {self.cookie_name} cookie (platforms before "
                "8.0 return it in the body): set akana.auth_token instead, or check "
                "akana.fed_member_id"
            )
            if not cookies:
                # No cookie at all: as likely a gateway's JSON behind the 200 as an old
                # platform, so retried; the last attempt still ends in this line.
                raise RetriableResponseError(f"HTTP {status} {detail}", response)
            raise RejectedResponseError(status, detail)
        self._adopt(token, cookies.get(self.csrf_cookie_name))
        self.logins += 1
        return token

    def _renew_or_login(self) -> str:
        current = self.credential.value
        headers = {"Accept": "application/json", "Cookie": f"{self.cookie_name}={current}"}
        if self._csrf:
            # renewToken is a POST: the platform requires the CSRF header on it by default.
            headers[self.csrf_header_name] = self._csrf
        self._http.cookies.clear()
        try:
            response = self._http.post(
                self.base_url + RENEW_PATH, headers=headers, timeout=self._timeout
            )
        except requests.RequestException:
            response = None
        if response is None or not response.ok or current is None:
            return self._login()
        cookies = set_cookie_values(response)
        token = cookies.get(self.cookie_name) or current
        self._adopt(token, cookies.get(self.csrf_cookie_name))
        self.renewals += 1
        return token

    def _adopt(self, token: str, csrf: str | None) -> None:
        REDACTOR.add(token, csrf)
        if csrf:
            self._csrf = csrf
        self._obtained_at = self._clock()

    @staticmethod
    def _raise_for_status(response: requests.Response, what: str) -> None:
        retry_if_transient(response, what)
        status = response.status_code
        if status >= HTTPStatus.BAD_REQUEST:
            raise RejectedResponseError(
                status, f"{what}: {response.reason}: {body_excerpt(response)}"
            )


class AkanaAuthenticator(APIAuthenticatorBase, CredentialAuthenticator):
    """Logs in or renews when due, then puts the session cookie and, when known, the CSRF
    header on every request.

    The shared base runs authenticators inside the retry loop, on every attempt, so a
    login that fails transiently is retried like a request.
    """

    def __init__(self, session: AkanaSession) -> None:
        super().__init__()
        self.session = session
        self.credential = session.credential

    @override
    def credential_sent(self, request: requests.PreparedRequest) -> str | None:
        return cookie_from_header(request.headers.get("Cookie"), self.session.cookie_name)

    @override
    def authenticate_request(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        self.session.ensure_fresh()
        token, csrf = self.session.credentials()
        if token:
            request.headers["Cookie"] = with_cookie(
                request.headers.get("Cookie"), self.session.cookie_name, token
            )
        if csrf:
            request.headers[self.session.csrf_header_name] = csrf
        return request
