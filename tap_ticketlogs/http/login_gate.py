"""A shared login's transient failure, remembered until the server's ``Retry-After`` passes.

Akana and Huawei log in under a lock that every worker thread shares. When a login is
answered 429 (or 503) with ``Retry-After``, the thread that sent it backs off; without this
gate, the threads queued behind the lock would each send the same login at once, ignoring
the server's hint. They get the same retriable error instead, and back off on their own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from tap_ticketlogs.http.policy import retry_after_seconds
from tap_ticketlogs.http.responses import RetriableResponseError
from tap_ticketlogs.timeutil import utc_now

T = TypeVar("T")


class LoginGate:
    """Runs logins, refusing to send one while a previous answer's ``Retry-After`` lasts."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._closed_until = 0.0
        self._failure: RetriableResponseError | None = None

    def run(self, login: Callable[[], T]) -> T:
        with self._lock:
            failure = self._failure if self._clock() < self._closed_until else None
        if failure is not None:
            raise failure
        try:
            return login()
        except RetriableResponseError as exc:
            hint = retry_after_seconds(exc.response, now=utc_now())
            if hint:
                with self._lock:
                    self._closed_until = self._clock() + hint
                    self._failure = exc
            raise
