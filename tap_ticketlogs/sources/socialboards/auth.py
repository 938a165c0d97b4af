"""Socialboards access tokens: a refresh token exchanged at ``POST {base_url}/token``.

Built on the SDK's :class:`OAuthAuthenticator` (its ``oauth_request_body``, ``access_token``,
``expires_in``, ``last_refreshed`` and ``is_token_valid`` contract), with what a tap that
fetches from several threads needs on top:

* one authenticator per tap run, shared by the tickets and ticket-log streams and their
  worker threads, so a token is fetched once and a rotated refresh token is kept;
* the token kept in a :class:`~tap_ticketlogs.http.credentials.RenewableCredential`: one lock
  around every refresh, and the shared rule for a 401 (refreshed once; a token fetched
  because of a 401 and rejected before the API ever accepted it is fatal);
* refresh a little before ``expires_in`` runs out;
* transient token-endpoint failures raised as retriable, so the stream request that needed
  the token retries them with the shared backoff; a refused refresh token in one line;
* every access (and rotated refresh) token registered with the redactor.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import requests
import simplejson
from singer_sdk.authenticators import OAuthAuthenticator
from typing_extensions import override

from tap_ticketlogs.errors import SourceAPIError
from tap_ticketlogs.http.credentials import CredentialAuthenticator, RenewableCredential
from tap_ticketlogs.http.login_gate import LoginGate
from tap_ticketlogs.http.redaction import REDACTOR
from tap_ticketlogs.http.responses import RetriableResponseError, foreign_answer, retry_if_transient
from tap_ticketlogs.http.session import CredentialSafeSession
from tap_ticketlogs.timeutil import utc_now

SOURCE_LABEL = "Socialboards"
TOKEN_PATH = "/token"  # noqa: S105 - a URL path, not a secret
# Refresh this long before the announced expiry (a tenth of short lifetimes), so a request
# never leaves with a token that dies on the way.
_EXPIRY_MARGIN_SECONDS = 60


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer ...`` header."""
    return (authorization or "").removeprefix("Bearer ").strip() or None


class SocialboardsAuthenticator(OAuthAuthenticator, CredentialAuthenticator):
    """Bearer access tokens from a refresh token (or one static access token)."""

    def __init__(
        self,
        *,
        base_url: str,
        client_id: str | None,
        refresh_token: str | None,
        access_token: str | None,
        timeout: int,
    ) -> None:
        super().__init__(auth_endpoint=base_url.rstrip("/") + TOKEN_PATH, client_id=client_id)
        self.refresh_token = refresh_token
        self._timeout = timeout
        # The token POST carries the refresh token: it must never follow a redirect elsewhere.
        self._http = CredentialSafeSession()
        self._token_gate = LoginGate()
        self.credential = RenewableCredential(
            obtain=self._obtain if self.can_refresh else None, value=access_token
        )
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
        token = self.credential.current(due=lambda: not self.is_token_valid())
        if token is None:
            raise self._error(
                HTTPStatus.UNAUTHORIZED,
                "no access token and no refresh token is configured; set "
                "'socialboards.client_id' and 'socialboards.refresh_token'",
            )
        return token

    @override
    def authenticate_request(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        # Set on the request itself, not on the shared auth_headers dict other threads use.
        request.headers["Authorization"] = f"Bearer {self.current_token()}"
        return request

    @override
    def credential_sent(self, request: requests.PreparedRequest) -> str | None:
        return bearer_token(request.headers.get("Authorization"))

    @override
    def update_access_token(self) -> None:
        # The SDK's contract; the tap renews through self.credential (current_token).
        self.credential.current(due=lambda: True)

    def _obtain(self) -> str:
        """Exchange the refresh token for an access token (one request, under the lock)."""
        with self.credential.lock:
            requested_at = utc_now()
            answer = self._token_gate.run(self._request_token)
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
            return token

    def _request_token(self) -> Mapping[str, Any]:
        what = f"Socialboards token endpoint (POST {TOKEN_PATH})"
        response = self._http.post(
            self.auth_endpoint,
            data=self.oauth_request_body,
            headers={"Accept": "application/json"},
            timeout=self._timeout,
        )
        retry_if_transient(response, what)
        if response.status_code >= HTTPStatus.BAD_REQUEST:
            raise self._refused(response)
        try:
            body = simplejson.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            msg = f"{what}: HTTP {response.status_code} body is not a JSON object"
            raise RetriableResponseError(msg, response)
        # An OAuth answer carries the token or an `error`; anything else is a gateway's JSON.
        foreign = foreign_answer(body, ("access_token", "error"))
        if foreign:
            msg = f"{what}: HTTP {response.status_code} {foreign}"
            raise RetriableResponseError(msg, response)
        return body

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
