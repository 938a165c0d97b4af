"""Which cases an incremental run reads: those that can hold log entries it has not emitted.

The operation log endpoint has no time filter, so every case whose log is read costs at
least one request; reading every case since ``start_date`` makes a run cost grow with the
account's history. The list endpoint documents no update time either: each case carries
its ``create_time`` and its current ``status``, and can be filtered by creation time
(``query_start_time``/``query_end_time``) and by one ``status``. So a run reads:

* every case that is not final now (``status`` 0, 1, 2 or 17, one listing each): new
  entries go to open cases, and a closed case that is reopened is open again;
* every case created since the *selection start* (one listing, any status): new cases,
  including those opened and closed between two runs, and cases that were open at the
  last run and have closed since.

The selection start is the creation time of the oldest case the last run found open (or
whose log held entries past that run's end), but never more than
``closed_case_lookback_days`` before the bookmark: one instant kept in the state next to
the bookmark (``open_since``), however many cases there are.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable

#: Not final: to be processed, processing, to be confirmed, pending feedback.
OPEN_STATUSES = (0, 1, 2, 17)
#: The state key next to each Huawei stream's bookmark.
OPEN_SINCE_KEY = "open_since"
# Room for a case whose create_time is written a little before the API lists it.
CREATION_SKEW = dt.timedelta(minutes=5)


def selection_start(
    *,
    start_date: dt.datetime,
    bookmark: dt.datetime | None,
    open_since: dt.datetime | None,
    lookback: dt.timedelta,
) -> dt.datetime:
    """The creation time from which every case is read, whatever its status.

    Without a bookmark (a first run) every case since ``start_date``. With one: from the
    oldest case still open at the last run, at most ``lookback`` before the bookmark;
    ``lookback`` before it when the state does not say (an older state).
    """
    if bookmark is None or bookmark <= start_date:
        return start_date
    floor = bookmark - lookback
    if open_since is None:
        return max(start_date, floor)
    return max(start_date, floor, min(open_since, bookmark) - CREATION_SKEW)


class CaseTracker:
    """What one run learns about the cases it lists: when each was created, which are open,
    which hold entries past the run's end. Thread-safe (logs are fetched on workers)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._created: dict[str, dt.datetime] = {}
        self._unfinished: set[str] = set()

    def listed(self, case_id: str, created: dt.datetime | None, *, is_open: bool) -> None:
        with self._lock:
            if created is not None:
                self._created[case_id] = created
            if is_open:
                self._unfinished.add(case_id)

    def has_later_entries(self, case_ids: Iterable[str]) -> None:
        """These cases' logs hold entries at or after the run's end: read them next run."""
        with self._lock:
            self._unfinished.update(case_ids)

    def open_since(self, default: dt.datetime) -> dt.datetime:
        """Creation of the oldest case the next run must read again (``default`` if none)."""
        with self._lock:
            created = [self._created[c] for c in self._unfinished if c in self._created]
        return min(created, default=default)
