"""What every stream of one tap run shares: one end instant, one credential per source."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any, TypeVar, cast

from tap_ticketlogs.http.policy import HostReachability

T = TypeVar("T")


class RunContext:
    """Values created once per run, on first use, whichever stream or thread asks first."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._values: dict[str, Any] = {}

    def get_or_create(self, key: str, factory: Callable[[], T]) -> T:
        with self._lock:
            if key not in self._values:
                self._values[key] = factory()
            return cast("T", self._values[key])


_RUNS: weakref.WeakKeyDictionary[object, RunContext] = weakref.WeakKeyDictionary()
_RUNS_LOCK = threading.Lock()


def run_context_of(tap: object) -> RunContext:
    """The run context of a tap instance (one per tap, released with it)."""
    with _RUNS_LOCK:
        context = _RUNS.get(tap)
        if context is None:
            context = _RUNS[tap] = RunContext()
        return context


def host_reachability(run: RunContext, give_up_after: float) -> HostReachability:
    """The run's one record of which hosts answered; ``give_up_after`` applies if this
    creates it."""
    return run.get_or_create("host_reachability", lambda: HostReachability(give_up_after))
