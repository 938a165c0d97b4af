"""Renewable credentials (access tokens, session cookies): one rule for what a 401 means.

Every source with a credential the tap can renew (Socialboards refresh token, Akana login,
Huawei IAM login) keeps it in a :class:`RenewableCredential`, shared by the source's
streams and worker threads. Their authenticators are :class:`CredentialAuthenticator`
instances, and every stream's response check (``http_errors.py``) applies the rule below
to every 401 answer they get, so the sources differ only in how a credential is obtained,
when it is due for renewal and where a request carries it:

* the rejected credential is no longer the current one: another thread renewed it
  meanwhile, the request is resent with the new one (no second renewal);
* it cannot be renewed (a configured token or cookie, nothing to log in with): fatal;
* it was obtained because of an earlier 401 and the API never accepted it: the login works
  but what it yields is refused (wrong scope, no permission), so a second 401 is fatal;
* otherwise (it worked and has since expired or been revoked, or it was configured and
  is stale): renewed once, and the request resent.

Obtaining a credential is an HTTP request like any other: it runs while a stream request
is being sent, inside that request's retries, so a login or token request that fails
transiently (429, 5xx, a connection reset, a body that is not JSON) is retried with the
same backoff and ``Retry-After`` handling (``http_errors.retry_if_transient``).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable

import requests


def _never() -> bool:
    return False


class RenewableCredential:
    """The credential a source's requests carry now; thread-safe.

    ``obtain`` fetches a new one (a login, a token request) and returns it; None for a
    credential that cannot be renewed. It always runs under :attr:`lock`, so a source may
    keep what comes with the credential (its expiry, a CSRF token) under the same lock.
    """

    def __init__(self, *, obtain: Callable[[], str] | None, value: str | None = None) -> None:
        self._obtain = obtain
        self._value = value or None
        self.lock = threading.RLock()
        # Obtained because the previous credential was rejected, and not accepted since.
        self._after_rejection: set[str] = set()

    @property
    def renewable(self) -> bool:
        return self._obtain is not None

    @property
    def value(self) -> str | None:
        """The current credential, without obtaining one (no network)."""
        with self.lock:
            return self._value

    def current(
        self, *, due: Callable[[], bool] = _never, refresh: Callable[[], str] | None = None
    ) -> str | None:
        """The credential to send now: obtained when there is none yet, and replaced when
        ``due()`` says it is (nearly) expired, by ``refresh`` (default: ``obtain``).
        """
        with self.lock:
            if self._obtain is not None and (self._value is None or due()):
                self._value = (refresh if self._value is not None and refresh else self._obtain)()
            return self._value

    def accepted(self, credential: str | None) -> None:
        """The API answered a request that carried ``credential``: a later 401 on it means
        it expired, and it is renewed again."""
        if credential in self._after_rejection:
            with self.lock:
                self._after_rejection.discard(credential)

    def renew_after_rejection(self, rejected: str | None) -> bool:
        """After a 401 for ``rejected``: True when the request should be resent (see the
        module docstring for the rule), renewing the credential at most once."""
        if self._obtain is None:
            return False
        with self.lock:
            if self._value is not None and rejected != self._value:
                return True
            if rejected is not None and rejected in self._after_rejection:
                return False
            self._value = self._obtain()
            self._after_rejection.add(self._value)
            return True


class CredentialAuthenticator(ABC):
    """An authenticator whose credential is renewable: what the shared 401 rule needs."""

    credential: RenewableCredential

    @abstractmethod
    def credential_sent(self, request: requests.PreparedRequest) -> str | None:
        """The credential ``request`` carried, as :attr:`credential` holds it."""
