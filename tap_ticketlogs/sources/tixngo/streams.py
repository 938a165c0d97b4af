"""The ``tixngo_ticket_status_logs`` stream."""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar

from singer_sdk import typing as th
from singer_sdk.authenticators import APIAuthenticatorBase
from singer_sdk.helpers.types import Context
from typing_extensions import override

from tap_ticketlogs.sources.tixngo.auth import tixngo_authenticator
from tap_ticketlogs.sources.tixngo.pagination import NextPageKeyPaginator
from tap_ticketlogs.streams.base import reads_records
from tap_ticketlogs.streams.records import log_key
from tap_ticketlogs.streams.windows import WINDOW_END, WINDOW_START, WindowedStream
from tap_ticketlogs.timeutil import normalise

# Entry fields that carry a date-time; normalised to UTC when present. The vendor page does
# not list the entry fields, so any other field is passed through untouched.
DATETIME_FIELDS = ("actionDate",)

SCHEMA = th.PropertiesList(
    th.Property(
        "log_key",
        th.StringType,
        required=True,
        description="Stable key: sha256 of the API id (or of the whole entry) and the app.",
    ),
    th.Property(
        "mobile_app_id", th.StringType, required=True, description="Partition: the mobile app."
    ),
    th.Property("ticketId", th.StringType),
    th.Property("eventId", th.StringType),
    th.Property("actionName", th.StringType),
    th.Property("fromStatus", th.StringType),
    th.Property("toStatus", th.StringType),
    th.Property("fromOwnerId", th.StringType),
    th.Property("toOwnerId", th.StringType),
    th.Property("actor", th.StringType),
    th.Property("actionDate", th.DateTimeType, description="When the action happened (UTC)."),
    th.Property("deviceOs", th.StringType),
    additional_properties=True,
).to_dict()


class TixngoTicketStatusLogsStream(WindowedStream[str | None]):
    """Ticket status log entries of each configured mobile app, by from/to window.

    Bookmark per mobile app: the end of the last fully extracted window (see WindowedStream).
    """

    name = "tixngo_ticket_status_logs"
    path = "/organizer/report/ticket-status-logs"
    primary_keys: ClassVar[list[str]] = ["log_key"]
    replication_key = "actionDate"
    is_sorted = False
    # The endpoint page documents `result` (the entries, maybe none) on every answer.
    records_key = "result"
    answer_keys = ("result",)
    schema = SCHEMA

    source = "tixngo"
    source_label = "TIXNGO"
    partition_key = "mobile_app_id"
    described_params = ("paginationKey",)

    @property
    @override
    def configured_partitions(self) -> list[dict[str, Any]]:
        return [{"mobile_app_id": app_id} for app_id in self.source_config["mobile_app_ids"]]

    @property
    @override
    def authenticator(self) -> APIAuthenticatorBase:
        return tixngo_authenticator(self.source_config)

    @override
    def get_new_paginator(self) -> NextPageKeyPaginator:
        return NextPageKeyPaginator()

    @override
    def get_url_params(
        self, context: Context | None, next_page_token: str | None
    ) -> dict[str, Any]:
        assert context is not None  # every request belongs to one app and one window
        section = self.source_config
        # Lists become repeated parameters (actionNames=A&actionNames=B), as the API expects;
        # None values are left out by the SDK's encoder.
        return {
            "mobileAppId": context["mobile_app_id"],
            "from": context[WINDOW_START],
            "to": context[WINDOW_END],
            "limit": self.page_size,
            "paginationKey": next_page_token,
            "actionNames": list(section["action_names"]),
            "fromStatuses": list(section["from_statuses"]),
            "toStatuses": list(section["to_statuses"]),
            "fromOwnerId": section.get("from_owner_id"),
            "toOwnerId": section.get("to_owner_id"),
            "actor": section.get("actor"),
        }

    @override
    @reads_records
    def post_process(self, row: dict[str, Any], context: Context | None = None) -> dict[str, Any]:
        assert context is not None
        app_id = context["mobile_app_id"]
        entry_id = row.get("id")
        if entry_id not in (None, ""):
            # An API id keys the entry even if later API versions add fields to it.
            row["log_key"] = hashlib.sha256(f"{app_id}\x1f{entry_id}".encode()).hexdigest()
        else:
            row["log_key"] = log_key(row, app_id)
        for field in DATETIME_FIELDS:
            if field in row:
                row[field] = normalise(row[field])
        row["mobile_app_id"] = app_id
        return row


STREAM_TYPES = (TixngoTicketStatusLogsStream,)
