"""Bookmarks: where every stream resumes, and when its STATE goes out (the whole story).

A bookmark is the SDK's ``replication_key_value`` in a stream's (or a partition's) state,
and it always means the same thing: *every record before this instant was emitted*. Only
the streams listed below move it, in one of two ways.

1. **The stream owns its bookmark** (``owns_bookmark = True``; the SDK then does not advance
   it per record, sdk_compat "owned bookmarks"). It is set by :meth:`Bookmarks.write`
   once a unit of work is complete, never from a record's own timestamp field:

   * *Per window* (``tixngo_ticket_status_logs``, ``akana_transaction_logs``; windows.py): one
     bookmark per partition (mobile app, app version), moved to a window's end after every
     page of that window was emitted. A killed run resumes at the first unfinished window.
   * *Per run, written by the parent* (``socialboards_ticket_logs``; socialboards/streams.py):
     one bookmark for the stream (``state_partitioning_keys = ()``), never one per ticket.
     A run reads entries in ``[bookmark, upper)``; the tickets stream calls the child's
     ``complete_run`` when its list ends, and only then the bookmark moves to ``upper``.
   * *Per run, with the case selection* (``huawei_cases``, ``huawei_case_operate_logs``;
     huawei/streams.py): both bookmarks move to the run's end in the cases stream's
     ``complete_run``, after every selected case and its log were emitted; beside them the
     state keeps ``open_since`` (the creation time of the oldest case the run found open,
     one instant however many cases), from which the next run selects the cases that may
     have changed (huawei/selection.py).

   ``upper`` and every window's end come from :meth:`Bookmarks.extraction_end`,
   fixed once per run, so a parent's list and its children's logs agree.

2. **The SDK moves it** (``socialboards_tickets``): the SDK's own per-record progress
   marker (the stream is not sorted, ``is_sorted = False``), made the bookmark by
   ``finalize_state_progress_markers`` at the end of the stream. The tap reads it only
   through the SDK's public ``get_starting_timestamp``.

Where a run starts is :meth:`Bookmarks.start`: the bookmark, or ``start_date`` if
later (or if the state holds none, or one for another replication key).

**When STATE goes out** is a separate question, answered by the STATE throttle
(state_throttle.py, ``state_interval_seconds``): :meth:`Bookmarks.write` and the SDK's own
STATE writes (the sdk_compat "state gate", :meth:`Bookmarks.throttle_allows`) both ask
it first; a bookmark held back stays in memory and goes out with the next allowed STATE,
and the last STATE of each stream always goes out (``finalize_state_progress_markers``),
as do the one before a fatal error and the one on SIGTERM (sdk_compat, ``SDKTap``).
A run resumed from its last STATE loses nothing and re-reads at most what was in flight plus
one interval of finished work.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from tap_ticketlogs.streams.run_context import RunContext
from tap_ticketlogs.streams.state_throttle import StateThrottle, throttle_for
from tap_ticketlogs.timeutil import parse_datetime, to_rfc3339, utc_now

if TYPE_CHECKING:
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

    from tap_ticketlogs.sdk_compat import SDKStream


class Bookmarks:
    """Where one stream resumes, and when its STATE goes out (see the module docstring)."""

    def __init__(self, stream: SDKStream[Any], run: RunContext, tap: Tap) -> None:
        self._stream = stream
        self._run = run
        self._run_tap = tap  # its state writer emits STATE only when it changed since the last

    def extraction_end(self) -> dt.datetime:
        """Upper bound of this run: ``end_date`` or now minus the lag, never the future.

        Fixed at first use for the whole run, so every stream, partition and worker thread
        ends at the same instant (a parent's list and its children's logs agree).
        """
        config = self._stream.config

        def compute() -> dt.datetime:
            end = utc_now() - dt.timedelta(minutes=float(config["lag_minutes"]))
            if config.get("end_date"):
                end = min(parse_datetime(config["end_date"]), end)
            return end

        return self._run.get_or_create("extraction_end", compute)

    def start(self, context: Context | None) -> dt.datetime:
        """Where a partition (or, with ``None``, the stream) resumes: its bookmark, or
        ``start_date``, whichever is later."""
        stream = self._stream
        start = parse_datetime(stream.config["start_date"])
        state = stream.get_context_state(context)
        if state.get("replication_key") == stream.replication_key and state.get(
            "replication_key_value"
        ):
            start = max(start, parse_datetime(state["replication_key_value"]))
        return start

    def write(self, context: Context | None, value: dt.datetime) -> None:
        """Set the bookmark of a partition (or, with ``None``, the stream) and emit STATE.

        Only for streams that own their bookmark: called once every record before
        ``value`` has been emitted, so a resumed run never skips one.
        """
        stream = self._stream
        state = stream.get_context_state(context)
        state["replication_key"] = stream.replication_key
        state["replication_key_value"] = to_rfc3339(value)
        if stream.state_write_allowed():
            self._run_tap.state_writer.write_state(stream.tap_state)
        else:
            # Held back by the STATE throttle: the SDK's next STATE (at the latest, the
            # stream's last) carries it.
            stream.state_manager.is_flushed = False

    @property
    def throttle(self) -> StateThrottle:
        """One per run: how often STATE may be written (``state_interval_seconds``)."""
        config = self._stream.config
        return self._run.get_or_create("state_throttle", lambda: throttle_for(config))

    def throttle_allows(self) -> bool:
        """Whether a pending STATE may go out now (the stream's state gate asks this).

        A dry run (the SDK's record-limited test sync) never finalises: it writes every
        STATE, as it always did.
        """
        return self._stream.ABORT_AT_RECORD_COUNT is not None or self.throttle.allow()

    @contextmanager
    def final(self) -> Iterator[None]:
        """Around a stream's last STATE, which always goes out."""
        with self.throttle.final():
            yield
