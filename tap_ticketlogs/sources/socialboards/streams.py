"""The ``socialboards_tickets`` and ``socialboards_ticket_logs`` streams (Ticket API v2).

How an incremental run stays cheap with 100 000 tickets:

* The log bookmark (one per stream) is the upper bound of the last complete run. A run
  reads log entries with ``bookmark <= time < upper``, where ``upper`` is ``end_date`` or
  now minus ``lag_minutes``; entries older than the bookmark are dropped client side (the
  log endpoint has no time filter). The bookmark moves to ``upper`` only after the log of
  every listed ticket was emitted, so a killed run resumes from the old bookmark.
* Tickets are listed by ``last_thread_activity_desc`` and the listing stops at the first
  ticket whose last thread activity is older than the bookmark minus
  ``activity_margin_hours``; idle tickets are never listed, so their logs are never read.
  Then the top of the list is read again down to the moment the listing started, to catch
  tickets that moved to the top (new activity) while the listing was paging with ``skip``.
* Log pages come newest first, so the paging of one ticket stops at the first page that
  reaches back past the bookmark: most tickets cost one log request.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, ClassVar

import requests
import simplejson
from singer_sdk import typing as th
from singer_sdk.helpers.types import Context
from typing_extensions import override

from tap_ticketlogs.errors import SourceAPIError
from tap_ticketlogs.http.responses import body_excerpt, decoded_json, entries_problem
from tap_ticketlogs.sources.socialboards.auth import SocialboardsAuthenticator
from tap_ticketlogs.sources.socialboards.pagination import SkipTakePaginator, envelope_data
from tap_ticketlogs.sources.socialboards.times import normalise_api_time, parse_api_time
from tap_ticketlogs.streams.base import TicketLogsStream, reads_records
from tap_ticketlogs.streams.parents import PrefetchedChildStream, PrefetchingParentStream
from tap_ticketlogs.streams.records import carry_partition, log_key
from tap_ticketlogs.timeutil import parse_datetime, utc_now

NO_ERROR = -1
ORDER_BY_ACTIVITY = "last_thread_activity_desc"
TICKET_TIME_FIELDS = ("creationTime", "lastThreadElementCreationTime")
# Catch-up listings stop this long before the previous listing started: room for a clock
# difference between this machine and the API.
CLOCK_SKEW = dt.timedelta(minutes=5)
# A catch-up listing that finds new tickets is followed by another, at most this many times.
MAX_CATCH_UP_LISTINGS = 3

_USER = th.ObjectType(
    th.Property("id", th.StringType),
    th.Property("name", th.StringType),
    th.Property("email", th.StringType),
    th.Property("image", th.StringType),
    th.Property("status", th.StringType),
    th.Property("isBot", th.BooleanType),
    additional_properties=True,
)
_ANY_LIST = th.ArrayType(th.CustomType({}))

TICKET_SCHEMA = th.PropertiesList(
    th.Property("id", th.IntegerType, required=True, description="Unique ticket id."),
    th.Property("title", th.StringType),
    th.Property("message", th.StringType),
    th.Property("htmlMessage", th.StringType),
    th.Property("author", _USER),
    th.Property("category", th.ObjectType(additional_properties=True)),
    th.Property("creationTime", th.DateTimeType, description="Creation time (UTC, 7 digits)."),
    th.Property(
        "lastThreadElementCreationTime",
        th.DateTimeType,
        description="Creation time of the newest thread element (UTC, 7 digits).",
    ),
    th.Property("lockedBy", _USER),
    th.Property("status", th.StringType),
    th.Property("source", th.StringType),
    th.Property("detailedSource", th.StringType),
    th.Property("sourceName", th.StringType),
    th.Property("sentiment", th.StringType),
    th.Property("replyCount", th.IntegerType),
    th.Property("isMuted", th.BooleanType),
    th.Property("properties", th.ObjectType(additional_properties=True)),
    th.Property("customFields", _ANY_LIST),
    th.Property("tags", _ANY_LIST),
    th.Property("attachments", _ANY_LIST),
    th.Property("originalLink", th.StringType),
    additional_properties=True,
).to_dict()

TICKET_LOG_SCHEMA = th.PropertiesList(
    th.Property(
        "log_key",
        th.StringType,
        required=True,
        description="Stable key: sha256 of the entry as sent and its ticket id.",
    ),
    th.Property(
        "ticketId",
        th.IntegerType,
        required=True,
        description="Partition: the ticket (the request's ticketId), unless the entry names "
        "its own.",
    ),
    th.Property("time", th.DateTimeType, description="When it happened (UTC, 7 digits)."),
    th.Property("actionType", th.StringType),
    th.Property("actionString", th.StringType),
    th.Property("user", _USER),
    th.Property(
        "includedItems",
        th.ObjectType(
            th.Property("categories", _ANY_LIST),
            th.Property("tags", _ANY_LIST),
            th.Property("users", _ANY_LIST),
            additional_properties=True,
        ),
    ),
    additional_properties=True,
).to_dict()


def envelope_problem(body: Any) -> str | None:  # noqa: ANN401 - a parsed JSON body
    """What is wrong with a Socialboards envelope: an ``errorCode`` other than -1, a bad shape."""
    if not isinstance(body, dict):
        return f"body is a JSON {type(body).__name__}, not an object"
    code = body.get("errorCode", NO_ERROR)
    if code != NO_ERROR:
        text = body.get("errorText") or "no errorText"
        return f"Socialboards errorCode {code}: {text}"
    if "data" not in body:
        # Not an empty page: every answer carries `data` (docs/sources.md), null when empty.
        return "the envelope carries no 'data'"
    return entries_problem("data", body["data"])


def ticket_activity(ticket: Any) -> dt.datetime | None:  # noqa: ANN401 - a ticket object
    """When a ticket last had thread activity (its creation when it has no thread yet)."""
    if not isinstance(ticket, dict):
        return None
    for field in TICKET_TIME_FIELDS[::-1]:
        value = ticket.get(field)
        if isinstance(value, str) and value:
            try:
                return parse_api_time(value)
            except ValueError:
                return None
    return None


def entry_time(entry: Any) -> dt.datetime | None:  # noqa: ANN401 - a log entry
    value = entry.get("time") if isinstance(entry, dict) else None
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_api_time(value)
    except ValueError:
        return None


@dataclass(frozen=True)
class RunBounds:
    """The log entries one run reads: ``lower <= time < upper``."""

    lower: dt.datetime
    upper: dt.datetime

    @property
    def empty(self) -> bool:
        return self.lower >= self.upper


class SocialboardsStream(TicketLogsStream[int]):
    """What both Socialboards endpoints share: POST, the envelope, the access token."""

    source = "socialboards"
    source_label = "Socialboards"
    http_method = "POST"
    # Every answer is the envelope (docs/sources.md): an object with neither key is not one.
    answer_keys = ("data", "errorCode")

    @property
    @override
    def authenticator(self) -> SocialboardsAuthenticator:
        # One authenticator (one token) for both streams and every worker thread.
        section = self.source_config
        return self.shared(
            "authenticator",
            lambda: SocialboardsAuthenticator(
                base_url=str(section["base_url"]),
                client_id=section.get("client_id"),
                refresh_token=section.get("refresh_token"),
                access_token=section.get("access_token"),
                timeout=self.timeout,
            ),
        )

    @override
    def body_problem(self, body: Any) -> str | None:
        return envelope_problem(body)

    @override
    def rejection_detail(self, response: requests.Response) -> str:
        # 4xx answers usually carry the envelope too; its errorText says more than the body.
        try:
            body = simplejson.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            body = None
        if isinstance(body, dict) and body.get("errorText"):
            code, text = body.get("errorCode"), body["errorText"]
            return f"{response.reason}: Socialboards errorCode {code}: {text}"
        excerpt = body_excerpt(response)
        return f"{response.reason}: {excerpt}" if excerpt else str(response.reason)

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        yield from envelope_data(decoded_json(response))

    @override
    def describe_partition(
        self, request: requests.PreparedRequest, context: Context | None
    ) -> str | None:
        described = super().describe_partition(request, context)
        # The list endpoint pages in its JSON body, not in the query string.
        try:
            body = simplejson.loads(request.body) if request.body else None
        except (ValueError, TypeError):
            body = None
        if not isinstance(body, dict) or "skip" not in body:
            return described
        paging = f"skip={body['skip']}"
        return f"{described}, {paging}" if described else paging


class SocialboardsTicketsStream(SocialboardsStream, PrefetchingParentStream[int]):
    """Tickets from ``POST /tickets/list``: the configured ``ticket_ids``, or every ticket
    with thread activity since the bookmark minus ``activity_margin_hours``.
    """

    name = "socialboards_tickets"
    path = "/tickets/list"
    primary_keys: ClassVar[list[str]] = ["id"]
    replication_key = "lastThreadElementCreationTime"
    is_sorted = False  # also lists tickets inside the margin, older than the bookmark
    schema = TICKET_SCHEMA

    # What the listing request being paged asks for (set on the main thread only).
    _stop_before: dt.datetime | None = None
    _ticket_ids: tuple[int, ...] | None = None

    @override
    def get_new_paginator(self) -> SkipTakePaginator:
        return SkipTakePaginator(
            self.page_size, item_time=ticket_activity, stop_before=self._stop_before
        )

    @override
    def prepare_request_payload(
        self, context: Context | None, next_page_token: int | None
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "skip": next_page_token or 0,
            "take": self.page_size,
            "orderBy": ORDER_BY_ACTIVITY,
        }
        if self._ticket_ids is not None:
            payload["ticketIds"] = list(self._ticket_ids)
        return payload

    @override
    def request_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        configured = self.source_config.get("ticket_ids")
        if configured is not None:
            yield from self._configured_tickets([int(ticket_id) for ticket_id in configured])
            return
        yield from self._active_tickets(context)

    def _configured_tickets(self, ticket_ids: list[int]) -> Iterator[dict[str, Any]]:
        """Exactly the configured tickets, ``page_size`` ids per request."""
        seen: set[int] = set()
        unique = list(dict.fromkeys(ticket_ids))
        for start in range(0, len(unique), self.page_size):
            self._ticket_ids = tuple(unique[start : start + self.page_size])
            self._stop_before = None
            for ticket in super().request_records(None):
                if ticket.get("id") in self._ticket_ids and ticket["id"] not in seen:
                    seen.add(ticket["id"])
                    yield ticket
        self._ticket_ids = None
        for missing in (ticket_id for ticket_id in unique if ticket_id not in seen):
            self.logger.warning(
                "Socialboards ticket %s from 'socialboards.ticket_ids' was not found; skipped",
                missing,
            )

    def _active_tickets(self, context: Context | None) -> Iterator[dict[str, Any]]:
        """Tickets with thread activity since the cutoff, newest activity first, then the
        tickets that moved to the top while the listing was paging.
        """
        cutoff = self.listing_cutoff(context)
        seen: set[int] = set()
        self._stop_before = cutoff
        for listing in range(MAX_CATCH_UP_LISTINGS + 1):
            started = utc_now()
            found = 0
            for ticket in super().request_records(context):
                ticket_id = int(ticket["id"])
                activity = ticket_activity(ticket)
                if ticket_id in seen or (activity is not None and activity < cutoff):
                    continue  # listed already, or an idle ticket on the last page
                seen.add(ticket_id)
                found += 1
                yield ticket
            if listing and not found:
                break
            self._stop_before = max(cutoff, started - CLOCK_SKEW)
        self._stop_before = None

    def listing_cutoff(self, context: Context | None) -> dt.datetime:
        """Thread activity before this means a ticket cannot hold log entries the run needs."""
        hours = self.source_config["activity_margin_hours"]
        margin = dt.timedelta(hours=float(hours))
        starts = [
            child.run_bounds().lower
            for child in self.child_streams
            if isinstance(child, SocialboardsTicketLogsStream) and child.selected
        ]
        if self.selected or not starts:
            own = self.get_starting_timestamp(context)
            starts.append(own or parse_datetime(self.config["start_date"]))
        return min(starts) - margin

    @override
    @reads_records
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        yield from super().get_records(context)
        # Every ticket's log was emitted (children are synced as each ticket is processed).
        for child in self.child_streams:
            if isinstance(child, SocialboardsTicketLogsStream) and child.selected:
                child.complete_run()

    @override
    def get_child_context(self, record: dict[str, Any], context: Context | None) -> Context:
        return {"ticket_id": record["id"]}

    @override
    @reads_records
    def post_process(self, row: dict[str, Any], context: Context | None = None) -> dict[str, Any]:
        for field in TICKET_TIME_FIELDS:
            if field in row:
                row[field] = normalise_api_time(row[field])
        return row


class SocialboardsTicketLogsStream(SocialboardsStream, PrefetchedChildStream[int]):
    """Log entries of each ticket from ``POST /tickets/{ticketId}/log``, newest first.

    One bookmark for the stream (never one per ticket): the upper bound of the last
    complete run, written once every ticket's log was emitted.
    """

    name = "socialboards_ticket_logs"
    path = "/tickets/{ticket_id}/log"
    parent_stream_type = SocialboardsTicketsStream
    # One bookmark for the stream, whatever the number of tickets.
    state_partitioning_keys: ClassVar[tuple[str, ...]] = ()
    primary_keys: ClassVar[list[str]] = ["log_key"]
    replication_key = "time"
    is_sorted = False
    schema = TICKET_LOG_SCHEMA
    partition_key = "ticket_id"
    progress_unit = "tickets"
    described_params = ("skip", "take")
    # complete_run writes the bookmark: entries of one ticket are not in time order with
    # those of the next, so no per-record value is a safe resume point.
    owns_bookmark = True

    _bounds: RunBounds | None = None

    @override
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lock = threading.Lock()
        self.skipped_tickets: list[int] = []

    def run_bounds(self) -> RunBounds:
        """This run's ``[lower, upper)``, fixed at first use: bookmark (or start_date) to
        ``end_date`` or now minus ``lag_minutes``.
        """
        with self._lock:
            if self._bounds is None:
                bookmarks = self.bookmarks
                self._bounds = RunBounds(bookmarks.start(None), bookmarks.extraction_end())
            return self._bounds

    @override
    def get_new_paginator(self) -> SkipTakePaginator:
        # Entries come newest first: a page reaching back past the bookmark is the last.
        return SkipTakePaginator(
            self.page_size, item_time=entry_time, stop_before=self.run_bounds().lower
        )

    @override
    def get_url_params(
        self, context: Context | None, next_page_token: int | None
    ) -> dict[str, Any]:
        return {"take": self.page_size, "skip": next_page_token or 0}

    @override
    def prepare_request_payload(
        self, context: Context | None, next_page_token: int | None
    ) -> dict[str, Any]:
        return {"action_types": list(self.source_config["action_types"])}

    @override
    def fetch_partition(self, context: Context) -> Iterator[dict[str, Any]]:
        bounds = self.run_bounds()
        if bounds.empty:
            return
        ticket_id = context["ticket_id"]
        try:
            yield from self._in_run(self.request_records(context), ticket_id, bounds)
        except SourceAPIError as exc:
            if exc.status != HTTPStatus.NOT_FOUND:
                raise
            # Deleted (or merged) between the listing and this request: nothing to read.
            self.logger.warning(
                "Socialboards ticket %s disappeared before its log was read (HTTP 404); skipped",
                ticket_id,
            )
            with self._lock:
                self.skipped_tickets.append(ticket_id)
            self.run_stats.add(skipped=1)

    def _in_run(
        self, entries: Iterable[dict[str, Any]], ticket_id: int, bounds: RunBounds
    ) -> Iterator[dict[str, Any]]:
        seen: set[str] = set()
        for entry in entries:
            when = entry_time(entry)
            # An entry without a readable time is kept: losing it would be worse than
            # reading it again next run (its log_key lets the loader upsert it).
            if when is not None and not bounds.lower <= when < bounds.upper:
                continue
            key = log_key(entry, ticket_id)  # of the entry exactly as the API sent it
            if key in seen:
                continue  # a page shifted by an entry added while paging
            seen.add(key)
            record = dict(entry)
            if "time" in record:
                record["time"] = normalise_api_time(record["time"])
            record["log_key"] = key
            carry_partition(record, "ticketId", ticket_id)
            yield record

    def complete_run(self) -> None:
        """Every listed ticket's log was emitted: the bookmark moves to the run's upper bound."""
        bounds = self.run_bounds()
        if self.skipped_tickets:
            self.logger.warning(
                "Socialboards: %d ticket(s) disappeared during the run and were skipped: %s",
                len(self.skipped_tickets),
                ", ".join(str(ticket_id) for ticket_id in sorted(self.skipped_tickets)),
            )
        if bounds.empty:
            return
        self.bookmarks.write(None, bounds.upper)


STREAM_TYPES = (SocialboardsTicketsStream, SocialboardsTicketLogsStream)
