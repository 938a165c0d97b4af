"""The ``X-Auth-Token`` header: a configured IAM token, or one obtained by password login.

IAM login: ``POST {iam_url}/v3/auth/tokens`` with the user's password and a project (or
domain) scope; the token is the ``X-Subject-Token`` response header and the body's
``token.expires_at`` says when it stops working (24 h after issue). The token is renewed
before it expires and after a 401 by the shared rule (``credentials.py``), under one
lock: operation logs are fetched from several threads at once, and all of them must share
one token and one renewal.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any

import requests
import simplejson
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
    foreign_answer,
    retry_if_transient,
)
from tap_ticketlogs.http.session import CredentialSafeSession
from tap_ticketlogs.timeutil import parse_datetime, utc_now

TOKEN_HEADER = "X-Auth-Token"  # noqa: S105 - a header name, not a secret
SUBJECT_TOKEN_HEADER = "X-Subject-Token"  # noqa: S105 - a header name, not a secret
TOKENS_PATH = "/v3/auth/tokens"
# Renew this long before expires_at, so a token never expires between the check and the
# request (and a long page of a slow API still arrives with a valid token).
RENEW_MARGIN = dt.timedelta(minutes=5)


class IAMPasswordLogin:
    """Obtains IAM tokens for one user; each call is one login."""

    def __init__(
        self,
        *,
        iam_url: str,
        domain_name: str,
        user_name: str,
        password: str,
        project_name: str | None,
        timeout: float,
        session: requests.Session | None = None,
    ) -> None:
        self.url = iam_url.rstrip("/") + TOKENS_PATH
        self._domain_name = domain_name
        self._user_name = user_name
        self._password = password
        self._project_name = project_name
        self._timeout = timeout
        self._session = session or CredentialSafeSession()
        self._gate = LoginGate()
        self.logins = 0

    def request_body(self) -> dict[str, Any]:
        """The documented password-method body; project scope if a project is named."""
        scope: dict[str, Any] = (
            {"project": {"name": self._project_name}}
            if self._project_name
            else {"domain": {"name": self._domain_name}}
        )
        return {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {
                            "name": self._user_name,
                            "password": self._password,
                            "domain": {"name": self._domain_name},
                        }
                    },
                },
                "scope": scope,
            }
        }

    def obtain(self) -> tuple[str, dt.datetime | None]:
        """Log in; return the token and when it expires (None if IAM did not say).

        Transient failures (429, 5xx, a body that is not JSON) raise a retriable error,
        so the request that needed the token is retried with backoff; a rejected login
        (wrong password, unknown project) raises a fatal one.
        """
        return self._gate.run(self._send)

    def _send(self) -> tuple[str, dt.datetime | None]:
        response = self._session.post(self.url, json=self.request_body(), timeout=self._timeout)
        self.logins += 1
        status = response.status_code
        retry_if_transient(response, "IAM login")
        if status >= HTTPStatus.BAD_REQUEST:
            raise RejectedResponseError(status, f"IAM login failed: {iam_error_text(response)}")
        token = response.headers.get(SUBJECT_TOKEN_HEADER)
        if not token:
            # A gateway's HTML page, a cut-off answer or its own JSON (no `token` object, as
            # IAM's answer has) behind a 2xx is transient: retried.
            foreign = foreign_answer(decoded_json(response), ("token", "error", "error_code"))
            if foreign:
                raise RetriableResponseError(f"IAM login: HTTP {status} {foreign}", response)
            raise RejectedResponseError(
                status, f"IAM login answered HTTP {status} without an {SUBJECT_TOKEN_HEADER} header"
            )
        REDACTOR.add(token)
        return token, _expires_at(response)


def _expires_at(response: requests.Response) -> dt.datetime | None:
    try:
        body = simplejson.loads(response.content)
        return parse_datetime(str(body["token"]["expires_at"]))
    except (ValueError, KeyError, TypeError):
        # Without an expiry the token is used until IAM or the API rejects it (then a 401
        # renews it): a missing field must not stop a run that holds a working token.
        return None


def iam_error_text(response: requests.Response) -> str:
    """IAM errors read ``{"error": {"code", "message", "title"}}``; else a body excerpt."""
    try:
        body = simplejson.loads(response.content)
        error = body["error"]
        return REDACTOR.redact(f"HTTP {response.status_code}: {error['message']}")
    except (ValueError, KeyError, TypeError):
        excerpt = body_excerpt(response)
        status = f"HTTP {response.status_code} {response.reason}"
        return f"{status}: {excerpt}" if excerpt else status


class HuaweiTokenAuthenticator(APIAuthenticatorBase, CredentialAuthenticator):
    """Puts the current IAM token into ``X-Auth-Token``; thread-safe."""

    def __init__(
        self,
        *,
        token: str | None = None,
        login: IAMPasswordLogin | None = None,
        clock: Callable[[], dt.datetime] = utc_now,
        renew_margin: dt.timedelta = RENEW_MARGIN,
    ) -> None:
        super().__init__()
        if token is None and login is None:
            msg = "a token or an IAM login is required"
            raise ValueError(msg)
        self._expires_at: dt.datetime | None = None
        self._login = login
        self._clock = clock
        self._renew_margin = renew_margin
        self.credential = RenewableCredential(
            obtain=self._obtain if login is not None else None, value=token
        )
        if token:
            REDACTOR.add(token)

    def current_token(self) -> str:
        """The token to send now: logs in first, and again shortly before expiry."""
        token = self.credential.current(due=self._expiring)
        assert token is not None  # a configured token, or one from the login
        return token

    @override
    def authenticate_request(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers[TOKEN_HEADER] = self.current_token()
        return request

    @override
    def credential_sent(self, request: requests.PreparedRequest) -> str | None:
        return request.headers.get(TOKEN_HEADER)

    def _expiring(self) -> bool:
        return self._expires_at is not None and (
            self._clock() >= self._expires_at - self._renew_margin
        )

    def _obtain(self) -> str:
        assert self._login is not None  # a configured token is never renewed
        token, self._expires_at = self._login.obtain()
        return token


def huawei_authenticator(section: Mapping[str, Any], *, timeout: float) -> HuaweiTokenAuthenticator:
    """A configured ``auth_token`` wins; otherwise the IAM password login settings."""
    if section.get("auth_token"):
        return HuaweiTokenAuthenticator(token=str(section["auth_token"]))
    return HuaweiTokenAuthenticator(
        login=IAMPasswordLogin(
            iam_url=str(section["iam_url"]),
            domain_name=str(section["domain_name"]),
            user_name=str(section["user_name"]),
            password=str(section["password"]),
            project_name=section.get("project_name") or None,
            timeout=timeout,
        )
    )
