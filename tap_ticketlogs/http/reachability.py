"""Which hosts have answered during this run, so retries wait only where waiting can help.

A host that sent any HTTP answer (a 503 or a 429 included) is up and may be flaky: its
connection failures are retried as usual, up to ``max_retries``. A host that has refused
every connection, or whose name does not resolve, since the run started is most likely
misconfigured or down: its requests give up once ``give_up_after`` seconds have passed
since its first failure, instead of backing off through every retry (minutes).
"""

from __future__ import annotations

import threading
import time
from urllib.parse import urlsplit

import requests

from tap_ticketlogs.streams.run_context import RunContext


class HostReachability:
    """Answers seen and first connection failures per host (``host:port``); thread-safe."""

    def __init__(self, give_up_after: float) -> None:
        self.give_up_after = give_up_after
        self._lock = threading.Lock()
        self._answered: set[str] = set()
        self._first_failure: dict[str, float] = {}

    def answered(self, host: str) -> None:
        """The host sent an HTTP answer: from now on it is only ever flaky."""
        with self._lock:
            self._answered.add(host)

    def never_answered(self, host: str) -> bool:
        with self._lock:
            return host not in self._answered

    def gives_up(self, host: str, now: float | None = None) -> bool:
        """After a failed connection: True if the host never answered and has failed for
        ``give_up_after`` seconds (the first failure starts the clock)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if host in self._answered:
                return False
            first = self._first_failure.setdefault(host, now)
            return now - first >= self.give_up_after


def host_of(request: requests.PreparedRequest | None) -> str:
    """``host:port`` of a request (never its path or query: they may carry secrets)."""
    return urlsplit(request.url or "").netloc if request is not None else ""


def is_unanswered_connection(exc: BaseException) -> bool:
    """No HTTP answer came over the connection (refused, unresolvable, connect timeout,
    closed before a status line); a body cut short after the headers is not this."""
    return isinstance(exc, requests.exceptions.ConnectionError)


def host_reachability(run: RunContext, give_up_after: float) -> HostReachability:
    """The run's one record of answers; ``give_up_after`` applies if this creates it."""
    return run.get_or_create("host_reachability", lambda: HostReachability(give_up_after))
