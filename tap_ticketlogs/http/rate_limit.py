"""One request rate per source, shared by every thread, and a 429 that slows them all.

Streams of one source (and their worker threads) share one :class:`SourceThrottle` for the
run. Every attempt of a request (retries included) waits for it: at most
``requests_per_second`` attempts start in any second, evenly spaced (a bucket of one
token, so no burst goes above the rate). A 429 pauses the whole source for the delay the
retry waits (the server's ``Retry-After`` or the backoff): the other threads do not keep
hammering an API that asked the tap to slow down.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class SourceThrottle:
    """A token bucket of one token (optional) plus a source-wide pause."""

    def __init__(
        self,
        requests_per_second: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._interval = 1.0 / requests_per_second if requests_per_second else 0.0
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_start = 0.0  # when the next attempt may start
        self._paused_until = 0.0

    def acquire(self) -> None:
        """Wait until this source may start another request attempt."""
        while True:
            with self._lock:
                now = self._clock()
                ready = max(self._next_start, self._paused_until)
                if now >= ready:
                    # Spacing counts from the later of now and the slot: an idle source
                    # does not bank a burst.
                    self._next_start = max(now, self._next_start) + self._interval
                    return
                wait = ready - now
            self._sleep(wait)

    def pause(self, seconds: float) -> None:
        """No attempt of this source starts for ``seconds`` (after a 429)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)
