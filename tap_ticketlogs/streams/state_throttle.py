"""How often a run writes STATE: at most once per ``state_interval_seconds`` while it runs.

Every STATE carries every bookmark of every stream. Written after each window (or each
case, each ticket) a five-year backfill of a hundred partitions would write hundreds of
thousands of them, which the loader must parse and Meltano must store. The bookmarks still
advance after every unit of work, in memory; what is throttled is only how often they are
written out, so a run killed without warning (SIGKILL) re-reads at most what was in flight
plus one interval of finished work. The last STATE of each stream, the one before a fatal
exit and the one on SIGTERM (the SDK's handler writes the tap's whole state) always go
out; a dry run (the SDK's record-limited test sync) is not throttled.

STATE is written from several places: after every window through ``Bookmarks.write``
(bookmarks.py), and by the SDK after each child context, every 10 000 records and at the end
of a stream (sdk_compat's "state gate"). Both ask :meth:`StateThrottle.allow` first;
``tests/test_state_throttle.py`` fails loudly if a STATE gets around it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

#: The ``state_interval_seconds`` default.
DEFAULT_INTERVAL_SECONDS = 30


class StateThrottle:
    """Lets a mid-run STATE through at most once per interval; final ones always.

    The interval counts from the run's start, so a run shorter than one interval writes
    only its final STATE messages. ``interval_seconds`` 0 lets every STATE through.
    """

    def __init__(
        self, interval_seconds: float, *, clock: Callable[[], float] | None = None
    ) -> None:
        self.interval_seconds = max(0.0, interval_seconds)
        self._clock = clock or _monotonic
        self._last = self._clock()
        self._lock = threading.Lock()
        self._final_depth = 0
        #: STATE messages let through, and held back (pending until a later one goes out).
        self.written = 0
        self.held = 0

    def allow(self) -> bool:
        """Whether a STATE pending now may be written now (counted as written if so)."""
        with self._lock:
            now = self._clock()
            if self._final_depth or now - self._last >= self.interval_seconds:
                self._last = now
                self.written += 1
                return True
            self.held += 1
            return False

    @contextmanager
    def final(self) -> Iterator[None]:
        """Within this block every STATE is written: a stream's last, a fatal exit's."""
        with self._lock:
            self._final_depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._final_depth -= 1


def _monotonic() -> float:
    # Looked up at each call, so a test can run the clock faster.
    return time.monotonic()


def throttle_for(config: Mapping[str, Any]) -> StateThrottle:
    """The throttle a tap config asks for (``state_interval_seconds``, its default filled in)."""
    return StateThrottle(float(config["state_interval_seconds"]))
