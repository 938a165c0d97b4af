"""The ``huawei_cases`` and ``huawei_case_operate_logs`` streams."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar
from urllib.parse import quote, unquote

import requests
from singer_sdk import typing as th
from singer_sdk.helpers.types import Context
from typing_extensions import override

from tap_ticketlogs.errors import SourceAPIError
from tap_ticketlogs.http.redaction import REDACTOR
from tap_ticketlogs.http.responses import body_excerpt, decoded_json, entries_problem
from tap_ticketlogs.sources.huawei.auth import HuaweiTokenAuthenticator, huawei_authenticator
from tap_ticketlogs.sources.huawei.fields import (
    as_integer,
    epoch_ms_or_datetime,
    local_datetime,
    zone_of,
)
from tap_ticketlogs.sources.huawei.pagination import OffsetTotalPaginator
from tap_ticketlogs.sources.huawei.selection import (
    OPEN_SINCE_KEY,
    OPEN_STATUSES,
    CaseTracker,
    selection_start,
)
from tap_ticketlogs.sources.huawei.settings import (
    OFFSET_MAX,
)
from tap_ticketlogs.streams.base import TicketLogsStream, reads_records
from tap_ticketlogs.streams.parents import PrefetchedChildStream, PrefetchingParentStream
from tap_ticketlogs.streams.records import carry_partition
from tap_ticketlogs.timeutil import parse_datetime, to_rfc3339

# The zone the tap asks for in X-Time-Zone, in the documented "GMT+8" form. The API's
# default is GMT+8 and its local-time strings carry no offset: the tap names the zone it
# wants on every request and reads the strings in that same zone.
REQUEST_TIME_ZONE = "GMT+0"
# Format of query_start_time/query_end_time (the v1 list documents "2019-05-22 03:30:52";
# the v2 page gives only a 32-character string), written in the requested zone.
QUERY_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
#: One case's details (``huawei.case_ids``): ``{"incident_detail_info": {...}}``.
DETAIL_PATH = "/v2/servicerequest/cases/{case_id}"
DETAIL_KEY = "incident_detail_info"
#: What the cases' progress line counts: list entries received, of the listings' total_count.
LISTED_CASES = "listed cases"
_CASE_IN_PATH = re.compile(r"/cases/([^/?]+)/operate-logs")

CASE_DATETIME_FIELDS = ("create_time", "confirmed_time")
CASE_INTEGER_FIELDS = ("status",)
LOG_INTEGER_FIELDS = ("operate_type", "operator_type")

CASES_SCHEMA = th.PropertiesList(
    th.Property(
        "incident_id", th.StringType, required=True, description="Service ticket (case) id."
    ),
    th.Property(
        "status",
        th.IntegerType,
        description="0 to be processed, 1 processing, 2 to be confirmed, 3 completed, "
        "4 canceled, 12 invalid, 17 pending feedback.",
    ),
    th.Property("business_type_name", th.StringType),
    th.Property("incident_type_name", th.StringType),
    th.Property("product_category_name", th.StringType),
    th.Property("incident_service_type", th.StringType),
    th.Property("customer_id", th.StringType),
    th.Property("xcustomer_id", th.StringType),
    th.Property("xcustomer_name", th.StringType),
    th.Property("dc_name", th.StringType),
    th.Property("simple_description", th.StringType),
    th.Property("root_cause", th.StringType),
    th.Property("resolution", th.StringType),
    th.Property("create_time", th.DateTimeType, description="When the case was opened (UTC)."),
    th.Property("confirmed_time", th.DateTimeType, description="When it was resolved (UTC)."),
    th.Property("label_list", th.ArrayType(th.ObjectType(additional_properties=True))),
    additional_properties=True,
).to_dict()

LOGS_SCHEMA = th.PropertiesList(
    th.Property("incident_log_id", th.StringType, required=True, description="Log entry id."),
    th.Property(
        "incident_id",
        th.StringType,
        required=True,
        description="Partition: the case, as the API sends it (the case read, if it does not).",
    ),
    th.Property("operate_type", th.IntegerType),
    th.Property("operator_type", th.IntegerType),
    th.Property("operator_id", th.StringType),
    th.Property("operator_name", th.StringType),
    th.Property("operate_desc", th.StringType),
    th.Property(
        "operate_time",
        th.DateTimeType,
        required=True,
        description="When the operation happened, read in the requested zone (UTC).",
    ),
    th.Property(
        "timestamp_operate_time",
        th.DateTimeType,
        description="The same instant from the API's epoch milliseconds (UTC).",
    ),
    additional_properties=True,
).to_dict()


class HuaweiStream(TicketLogsStream[int]):
    """Offset/total pages, ``X-Auth-Token``, the requested zone, ``{error_code}`` bodies."""

    source = "huawei"
    source_label = "Huawei Cloud"
    described_params = ("offset",)
    #: The key of the answer's list (``incident_info_list``, ``incident_operate_log_list``).
    records_key: ClassVar[str]
    #: The ``X-Time-Zone`` sent and used to read local times; a class attribute so that
    #: tests can run the whole tap in another zone.
    time_zone: ClassVar[str] = REQUEST_TIME_ZONE

    @property
    def zone(self) -> dt.tzinfo:
        return zone_of(self.time_zone)

    @property
    def tracker(self) -> CaseTracker:
        """What this run learns about the cases it lists (shared by both streams)."""
        return self.shared("case_tracker", CaseTracker)

    @property
    @override
    def authenticator(self) -> HuaweiTokenAuthenticator:
        # One IAM token for both streams and every worker thread of the run.
        return self.shared(
            "authenticator",
            lambda: huawei_authenticator(self.source_config, timeout=self.timeout),
        )

    @property
    @override
    def http_headers(self) -> dict[str, str]:
        return {
            **super().http_headers,
            "X-Language": str(self.source_config["language"]),
            "X-Time-Zone": self.time_zone,
        }

    @override
    def get_new_paginator(self) -> OffsetTotalPaginator:
        return OffsetTotalPaginator(self.records_key, on_ceiling=self.offset_ceiling_reached)

    def offset_ceiling_reached(self, response: requests.Response, offset: int) -> None:
        """Say which list was cut at the API's highest offset (the rest cannot be read)."""
        found = _CASE_IN_PATH.search(response.request.path_url or "")
        where = f"case_id={unquote(found.group(1))}" if found else "the case list"
        self.logger.warning(
            "%s %s [%s]: the API serves no offset above %d; %d entries were read and the "
            "rest of this list is skipped",
            self.source_label,
            self.name,
            where,
            OFFSET_MAX,
            offset,
        )

    def page_params(self, next_page_token: int | None) -> dict[str, Any]:
        return {
            "offset": next_page_token or 0,
            "limit": self.page_size,
            "group_id": self.source_config.get("group_id") or None,
        }

    @override
    def body_problem(self, body: Any) -> str | None:
        if not isinstance(body, dict):
            return f"body is a JSON {type(body).__name__}, not an object"
        if body.get("error_code") and self.records_key not in body:
            return huawei_error_text(body)
        total = body.get("total_count")
        if total is not None and not _is_count(total):
            return f"'total_count' is {str(total)[:40]!r}, not an integer"
        entries = body.get(self.records_key)
        if entries is None and total and int(total):
            # Pages are only requested below total_count: entries were promised.
            return f"'total_count' is {total} but '{self.records_key}' is missing or null"
        return entries_problem(self.records_key, entries)

    @override
    def rejection_detail(self, response: requests.Response) -> str:
        try:
            body = decoded_json(response)
        except Exception:  # noqa: BLE001 - any unreadable error body falls back to an excerpt
            body = None
        if isinstance(body, dict) and (body.get("error_code") or body.get("error_msg")):
            return f"{response.reason}: {huawei_error_text(body)}"
        excerpt = body_excerpt(response)
        return f"{response.reason}: {excerpt}" if excerpt else str(response.reason)

    def bad_value(
        self, context: Context | None, row: dict[str, Any], error: ValueError
    ) -> SourceAPIError:
        """A record the tap cannot convert faithfully: one line, naming case and entry."""
        parts = [f"{key}={value}" for key, value in (context or {}).items()]
        for key in ("incident_id", "incident_log_id"):
            if row.get(key) is not None and f"case_id={row[key]}" not in parts:
                parts.append(f"{key}={row[key]}")
        return SourceAPIError(
            source=self.source_label,
            stream=self.name,
            partition=", ".join(parts) or None,
            status=None,
            detail=REDACTOR.redact(f"cannot read the record: {error}"),
        )

    def query_time(self, instant: dt.datetime) -> str:
        """A time parameter, written in the requested zone like the API's own strings."""
        return instant.astimezone(self.zone).strftime(QUERY_TIME_FORMAT)


def huawei_error_text(body: dict[str, Any]) -> str:
    """``{error_code, error_msg}`` as one short line."""
    code = body.get("error_code") or "no error_code"
    message = " ".join(str(body.get("error_msg") or "no error_msg").split())
    return REDACTOR.redact(f"{code}: {message}")


class HuaweiCasesStream(PrefetchingParentStream[int], HuaweiStream):
    """Service tickets (cases): the configured ``case_ids``, else the cases that can have
    changed since the last run (see :mod:`tap_ticketlogs.sources.huawei.selection`).

    Incremental: the list offers no update time, but a case changes (status, resolution)
    only while it is open or when it closes, and those are the cases a run selects; they
    are emitted again and a loader upserts them by ``incident_id``. The bookmark is the
    run's upper bound, written once every selected case (and its log) was emitted.
    """

    name = "huawei_cases"
    path = "/v2/servicerequest/cases"
    primary_keys: ClassVar[list[str]] = ["incident_id"]
    replication_key = "create_time"
    # Open cases come first, whatever their creation time; the bookmark is the run's end.
    is_sorted = False
    owns_bookmark = True
    schema = CASES_SCHEMA
    records_key = "incident_info_list"
    answer_keys = (records_key, "total_count", "error_code", "incident_detail_info")

    # The listing being paged: its filters (status, creation range); main thread only.
    _listing: dict[str, Any] = {}  # noqa: RUF012 - replaced, never mutated
    # The configured case whose detail page is being read, if any; main thread only.
    _detail_case: str | None = None
    # Listings whose total_count has not answered yet; their first page announces it.
    _listings_unannounced = 0
    _listing_announced = True

    @override
    def check_connection(self) -> None:
        configured = self.source_config.get("case_ids")
        if not configured:
            # One page of one listing: the cheapest authenticated request.
            next(iter(self._listing_pages({"status": OPEN_STATUSES[0]})), None)
            return
        # No list request is made for configured cases: check the first case's log instead.
        for child in self.child_streams:
            if isinstance(child, HuaweiStream):
                next(iter(child.request_records({"case_id": str(configured[0])})), None)
                return

    @override
    def request_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        configured = self.source_config.get("case_ids")
        if configured:
            # Exactly the configured cases, each from its detail page (the list cannot be
            # filtered by several ids at once): a whole record, its creation time included.
            case_ids = dict.fromkeys(str(case_id) for case_id in configured)
            self.run_stats.expect(LISTED_CASES, len(case_ids), final=True)
            for case_id in case_ids:
                yield from self._detail_of(case_id)
                self.run_stats.unit_done()
            return
        upper = self.bookmarks.extraction_end()
        if all(stream.bookmarks.start(None) >= upper for stream in self.selected_streams()):
            return  # every selected stream is already at this run's bound
        start = parse_datetime(self.config["start_date"])
        since = self.selection_start()
        listings: list[dict[str, Any]] = [
            {"status": status, "query_start_time": self.query_time(start)}
            for status in OPEN_STATUSES
        ]
        listings.append({"query_start_time": self.query_time(since)})
        self.logger.info(
            "Huawei Cloud huawei_cases: reading open cases and every case created since %s",
            to_rfc3339(since),
        )
        seen: set[str] = set()
        self._listings_unannounced = len(listings)
        for listing in listings:
            for case in self._listing_pages(listing):
                # A case can be in two listings (open and recent), and offset pages of a
                # list that grows while it is read can repeat one at a page boundary: its
                # logs must still be read once.
                case_id = str(case.get("incident_id") or "")
                if case_id and case_id not in seen:
                    seen.add(case_id)
                    self._track(case_id, case)
                    yield case

    def _detail_of(self, case_id: str) -> Iterator[dict[str, Any]]:
        self._detail_case = case_id
        try:
            yield from super().request_records({"case_id": case_id})
        finally:
            self._detail_case = None

    @override
    def get_url(self, context: Context | None) -> str:
        if self._detail_case is None:
            return super().get_url(context)
        return f"{self.url_base}{DETAIL_PATH.format(case_id=quote(self._detail_case, safe=''))}"

    @override
    def body_problem(self, body: Any) -> str | None:
        if self._detail_case is None:
            return super().body_problem(body)
        if isinstance(body, dict) and body.get("error_code") and DETAIL_KEY not in body:
            return huawei_error_text(body)
        if not isinstance(body, dict) or not isinstance(body.get(DETAIL_KEY), dict):
            return f"the answer carries no '{DETAIL_KEY}' object"
        return None

    def _listing_pages(self, listing: dict[str, Any]) -> Iterator[dict[str, Any]]:
        self._listing = listing
        self._listing_announced = False
        try:
            yield from super().request_records(None)
        finally:
            self._listing = {}

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        if self._detail_case is not None:
            return [decoded_json(response)[DETAIL_KEY]]
        entries = list(super().parse_response(response))
        # Progress: the listings' entries received, of what their total_count promised.
        if not self._listing_announced:
            self._listing_announced = True
            self._listings_unannounced -= 1
            total = decoded_json(response).get("total_count")
            self.run_stats.expect(
                LISTED_CASES, int(total or 0), final=self._listings_unannounced <= 0
            )
        self.run_stats.unit_done(len(entries))
        return entries

    def _track(self, case_id: str, case: dict[str, Any]) -> None:
        try:
            created = local_datetime(case.get("create_time"), self.zone)
            status = as_integer(case.get("status"))
        except ValueError:
            created, status = None, None  # post_process reports the unreadable value
        self.tracker.listed(
            case_id,
            parse_datetime(created) if created else None,
            is_open=status is None or status in OPEN_STATUSES,
        )

    def selected_streams(self) -> list[HuaweiStream]:
        """This stream and its children, those selected: each keeps its own bookmark."""
        streams: list[HuaweiStream] = [self] if self.selected else []
        streams.extend(
            child
            for child in self.child_streams
            if isinstance(child, HuaweiStream) and child.selected
        )
        return streams

    def selection_start(self) -> dt.datetime:
        """Cases created from here on are read whatever their status (see selection.py).

        The earliest over the selected streams, so a stream selected for the first time
        (no bookmark) reads everything since ``start_date``.
        """
        start = parse_datetime(self.config["start_date"])
        lookback = dt.timedelta(days=int(self.source_config["closed_case_lookback_days"]))
        starts = []
        for stream in self.selected_streams() or [self]:
            state = stream.get_context_state(None)
            bookmark = None
            if state.get("replication_key") == stream.replication_key and state.get(
                "replication_key_value"
            ):
                bookmark = parse_datetime(str(state["replication_key_value"]))
            marked = state.get(OPEN_SINCE_KEY)
            starts.append(
                selection_start(
                    start_date=start,
                    bookmark=bookmark,
                    open_since=parse_datetime(str(marked)) if marked else None,
                    lookback=lookback,
                )
            )
        return min(starts)

    @override
    @reads_records
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        yield from super().get_records(context)
        # Every selected case was emitted and its log read (children sync per case).
        self.complete_run()

    def complete_run(self) -> None:
        """Move every selected stream's bookmark to the run's end, with ``open_since``."""
        upper = self.bookmarks.extraction_end()
        configured = bool(self.source_config.get("case_ids"))
        open_since = None if configured else self.tracker.open_since(default=upper)
        for stream in self.selected_streams():
            if stream.bookmarks.start(None) >= upper:
                continue  # nothing was due: the bookmark stays
            state = stream.get_context_state(None)
            if open_since is None:
                state.pop(OPEN_SINCE_KEY, None)
            else:
                state[OPEN_SINCE_KEY] = to_rfc3339(open_since)
            stream.bookmarks.write(None, upper)

    @override
    def get_url_params(
        self, context: Context | None, next_page_token: int | None
    ) -> dict[str, Any]:
        if self._detail_case is not None:
            # The detail page takes no paging and no time range.
            return {"group_id": self.source_config.get("group_id") or None}
        # Cases up to this run's bound (a later case has no log before it), filtered as
        # the listing being paged asks.
        return {
            **self.page_params(next_page_token),
            **self._listing,
            "query_end_time": self.query_time(self.bookmarks.extraction_end()),
        }

    @override
    def get_child_context(self, record: dict[str, Any], context: Context | None) -> Context:
        return {"case_id": str(record["incident_id"])}

    @override
    @reads_records
    def post_process(self, row: dict[str, Any], context: Context | None = None) -> dict[str, Any]:
        try:
            for field in CASE_DATETIME_FIELDS:
                if field in row:
                    row[field] = local_datetime(row[field], self.zone)
            for field in CASE_INTEGER_FIELDS:
                if field in row:
                    row[field] = as_integer(row[field])
        except ValueError as exc:
            raise self.bad_value(context, row, exc) from None
        row["incident_id"] = str(row["incident_id"])
        return row


class HuaweiCaseOperateLogsStream(PrefetchedChildStream[int], HuaweiStream):
    """Operation logs of each selected case, fetched for several cases at once.

    The endpoint has no time filter: every selected case's list is read, and entries are
    kept when their ``operate_time`` is from the bookmark (or ``start_date``) on and before
    this run's bound (now minus ``lag_minutes``, or ``end_date``). One bookmark for the
    stream: the run's bound, written by the parent once every selected case's log was
    emitted, so an interrupted run resumes from the previous one and loses nothing.
    """

    name = "huawei_case_operate_logs"
    path = "/v2/servicerequest/cases/{case_id}/operate-logs"
    parent_stream_type = HuaweiCasesStream
    # One bookmark for the stream, not one per case: state must not grow with the cases.
    state_partitioning_keys = ()
    primary_keys: ClassVar[list[str]] = ["incident_log_id"]
    replication_key = "operate_time"
    # The vendor does not document an order; the bookmark is the run's bound.
    is_sorted = False
    # Written by the parent's complete_run: entries of one case are not in time order with
    # those of the next, so no per-record value is a safe resume point.
    owns_bookmark = True
    schema = LOGS_SCHEMA
    partition_key = "case_id"
    progress_unit = "cases"
    records_key = "incident_operate_log_list"
    answer_keys = (records_key, "total_count", "error_code")

    _since: dt.datetime | None = None

    @override
    def get_url_params(
        self, context: Context | None, next_page_token: int | None
    ) -> dict[str, Any]:
        return self.page_params(next_page_token)

    @override
    def fetch_partition(self, context: Context) -> Iterator[dict[str, Any]]:
        # An entry repeated at a page boundary (the list grew while it was read) is kept once.
        seen: set[str] = set()
        later = False
        for entry in self.request_records(context):
            entry_id = str(entry.get("incident_log_id"))
            if entry_id in seen:
                continue
            seen.add(entry_id)
            later = later or self._has_later_entries((entry,))
            yield entry
        if later:
            # Known before the case's last page is handed on, as when it was read whole.
            self.tracker.has_later_entries([str(context["case_id"])])

    def _has_later_entries(self, entries: Iterable[dict[str, Any]]) -> bool:
        """Whether a case's log holds entries this run leaves for the next one."""
        end = self.bookmarks.extraction_end()
        for entry in entries:
            try:
                when = local_datetime(entry.get("operate_time"), self.zone)
            except ValueError:
                continue  # post_process reports it
            if when is not None and parse_datetime(when) >= end:
                return True
        return False

    def since(self) -> dt.datetime:
        """Where this run starts (inclusive): the bookmark, the end of the last complete
        run, or ``start_date``. Read once, before the first record."""
        if self._since is None:
            self._since = self.bookmarks.start(None)
        return self._since

    @override
    @reads_records
    def post_process(
        self, row: dict[str, Any], context: Context | None = None
    ) -> dict[str, Any] | None:
        assert context is not None  # a case's logs are always read for one case
        try:
            if row.get("incident_log_id") in (None, ""):
                msg = "incident_log_id is missing"
                raise ValueError(msg)
            operate_time = local_datetime(row.get("operate_time"), self.zone)
            if operate_time is None:
                msg = "operate_time is missing"
                raise ValueError(msg)
            if "timestamp_operate_time" in row:
                row["timestamp_operate_time"] = epoch_ms_or_datetime(
                    row["timestamp_operate_time"], self.zone
                )
            for field in LOG_INTEGER_FIELDS:
                if field in row:
                    row[field] = as_integer(row[field])
        except ValueError as exc:
            raise self.bad_value(context, row, exc) from None
        instant = parse_datetime(operate_time)
        if instant < self.since() or instant >= self.bookmarks.extraction_end():
            return None
        row["operate_time"] = operate_time
        carry_partition(row, "incident_id", context["case_id"])
        row["incident_log_id"] = str(row["incident_log_id"])
        return row


STREAM_TYPES = (HuaweiCasesStream, HuaweiCaseOperateLogsStream)


def _is_count(value: Any) -> bool:  # noqa: ANN401 - any JSON value
    """An integer, or digits in a string (next_offset reads both)."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (
        isinstance(value, str) and value.isascii() and value.isdigit()
    )
