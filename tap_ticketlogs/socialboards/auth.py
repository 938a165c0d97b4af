"""Socialboards access tokens: a refresh token exchanged at ``POST {base_url}/token``.

Built on the SDK's :class:`OAuthAuthenticator` (its ``oauth_request_body``, ``access_token``,
``expires_in``, ``last_refreshed`` and ``is_token_valid`` contract), with what a tap that
fetches from several threads needs on top:

* one authenticator per tap run, shared by the tickets and ticket-log streams and their
  worker threads, so a token is fetched once and a rotated refresh token is kept;
* a lock around the refresh, so concurrent requests never refresh twice;
* refresh a little before ``expires_in`` runs out, and once after a 401 (a token the server
  dropped early); a token fetched because of a 401 that is rejected again is fatal;
* transient token-endpoint failures retried; a refused refresh token reported in one line;
* every access (and rotated refresh) token registered with the redactor.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any

import requests
import simplejson
from singer_sdk.authenticators import OAuthAuthenticator
from typing_extensions import override

from tap_ticketlogs.errors import SourceAPIError
from tap_ticketlogs.redaction import REDACTOR
from tap_ticketlogs.timeutil import utc_now

SOURCE_LABEL = "Socialboards"
TOKEN_PATH = "/token"  # noqa: S105 - a URL path, not a secret
# Refresh this long before the announced expiry (a tenth of short lifetimes), so a request
# never leaves with a token that dies on the way.
_EXPIRY_MARGIN_SECONDS = 60


class SocialboardsAuthenticator(OAuthAuthenticator):
    """Bearer access tokens from a refresh token (or one static access token)."""

    def __init__(
        self,
        *,
        base_url: str,
        client_id: str | None,
        refresh_token: str | None,
        access_token: str | None,
        timeout: int,
        max_tries: int,
        retry_delay: Callable[[int], float],
    ) -> None:
        super().__init__(auth_endpoint=base_url.rstrip("/") + TOKEN_PATH, client_id=client_id)
        self.refresh_token = refresh_token
        self._timeout = timeout
        self._max_tries = max_tries
        self._retry_delay = retry_delay
        self._lock = threading.RLock()
        # Tokens obtained because the previous one was rejected: a 401 on one is fatal.
        self._issued_after_rejection: set[str] = set()
        if access_token:
            # A static token: valid until the server says otherwise (then refreshed, if a
            # refresh token is configured too).
            self.access_token = access_token
            self.last_refreshed = utc_now()
            self.expires_in = None

    @property
    def can_refresh(self) -> bool:
        return bool(self.client_id and self.refresh_token)

    @property
    @override
    def oauth_request_body(self) -> dict[str, Any]:
        return {
            "grant_type": "refresh_token",
            "client_id": self.client_id,
            "refresh_token": self.refresh_token,
        }

    @override
    def is_token_valid(self) -> bool:
        if self.access_token is None or self.last_refreshed is None:
            return False
        if not self.expires_in:
            return True
        margin = min(_EXPIRY_MARGIN_SECONDS, self.expires_in / 10)
        age = (utc_now() - self.last_refreshed).total_seconds()
        return age < self.expires_in - margin

    def current_token(self) -> str:
        """The access token to send now, refreshed first when it is (nearly) expired."""
        with self._lock:
            if not self.is_token_valid():
                self.update_access_token()
            assert self.access_token is not None
            return self.access_token

    @override
    def authenticate_request(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        # Set on the request itself, not on the shared auth_headers dict other threads use.
        request.headers["Authorization"] = f"Bearer {self.current_token()}"
        return request

    def renew_after_rejection(self, authorization: str | None) -> bool:
        """After a 401: True when the request should be resent with a (new) token."""
        rejected = (authorization or "").removeprefix("Bearer ").strip()
        with self._lock:
            if self.access_token and rejected != self.access_token:
                return True  # another thread already renewed it: resend with the new one
            if not self.can_refresh or rejected in self._issued_after_rejection:
                return False
            self.update_access_token()
            assert self.access_token is not None
            self._issued_after_rejection.add(self.access_token)
            return True

    def accepted(self, authorization: str | None) -> None:
        """The server accepted this token once: a later 401 on it is an expiry, renewable."""
        token = (authorization or "").removeprefix("Bearer ").strip()
        if token in self._issued_after_rejection:
            with self._lock:
                self._issued_after_rejection.discard(token)

    @override
    def update_access_token(self) -> None:
        with self._lock:
            if not self.can_refresh:
                raise self._error(
                    HTTPStatus.UNAUTHORIZED,
                    "the access token was rejected and no refresh token is configured; set "
                    "'socialboards.client_id' and 'socialboards.refresh_token'",
                )
            requested_at = utc_now()
            answer = self._request_token()
            token = answer.get("access_token")
            if not isinstance(token, str) or not token:
                raise self._error(HTTPStatus.OK, "the token answer carries no access_token")
            REDACTOR.add(token)
            self.access_token = token
            expires_in = answer.get("expires_in")
            self.expires_in = int(expires_in) if expires_in else None
            self.last_refreshed = requested_at
            rotated = answer.get("refresh_token")
            if isinstance(rotated, str) and rotated and rotated != self.refresh_token:
                # Kept for the rest of the run only: a Singer tap cannot write its config.
                REDACTOR.add(rotated)
                self.refresh_token = rotated
            self.logger.info("Socialboards access token obtained (expires in %s s)", expires_in)

    def _request_token(self) -> Mapping[str, Any]:
        problem = ""
        for attempt in range(self._max_tries):
            if attempt:
                time.sleep(self._retry_delay(attempt))
            try:
                response = self._session.post(
                    self.auth_endpoint,
                    data=self.oauth_request_body,
                    headers={"Accept": "application/json"},
                    timeout=self._timeout,
                )
            except requests.RequestException as exc:
                problem = type(exc).__name__
                continue
            status = response.status_code
            if status == HTTPStatus.TOO_MANY_REQUESTS or status >= HTTPStatus.INTERNAL_SERVER_ERROR:
                problem = f"HTTP {status}"
                continue
            if status >= HTTPStatus.BAD_REQUEST:
                raise self._refused(response)
            try:
                body = simplejson.loads(response.content)
            except (ValueError, UnicodeDecodeError):
                problem = "a token answer that is not JSON"
                continue
            if isinstance(body, dict):
                return body
            problem = "a token answer that is not a JSON object"
        raise self._error(
            None,
            f"could not obtain an access token: {problem} "
            f"(gave up after {self._max_tries} attempts)",
        )

    def _refused(self, response: requests.Response) -> SourceAPIError:
        try:
            body = simplejson.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            body = {}
        code = body.get("error") if isinstance(body, dict) else None
        described = f" ({code})" if isinstance(code, str) and code else ""
        return self._error(
            response.status_code,
            f"the refresh token was refused{described}: it was revoked or has expired, or "
            "does not belong to the client id; issue a new one and update "
            "'socialboards.refresh_token'",
        )

    @staticmethod
    def _error(status: int | None, detail: str) -> SourceAPIError:
        return SourceAPIError(
            source=SOURCE_LABEL,
            stream="token",
            partition=None,
            status=status,
            detail=REDACTOR.redact(detail),
        )
