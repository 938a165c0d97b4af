"""The ``tixngo_ticket_status_logs`` stream."""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar

from singer_sdk import typing as th
from singer_sdk.authenticators import APIAuthenticatorBase
from singer_sdk.helpers.types import Context
from typing_extensions import override

from tap_ticketlogs.errors import SourceAPIError
from tap_ticketlogs.sources.tixngo.auth import tixngo_authenticator
from tap_ticketlogs.sources.tixngo.pagination import NextPageKeyPaginator
from tap_ticketlogs.streams.base import reads_records
from tap_ticketlogs.streams.records import log_key
from tap_ticketlogs.streams.schema_evolution import infer_properties
from tap_ticketlogs.streams.windows import WINDOW_END, WINDOW_START, WindowedStream
from tap_ticketlogs.timeutil import normalise

#: The entry field taken for the entry's time when neither ``tixngo.time_field`` nor
#: discovery sampling names another. The vendor page lists no entry fields: this is the
#: tap's guess, and an account's entries may carry their time under another name
#: (``logDate``), which sampling finds (see :meth:`replication_key_from_sample`).
DEFAULT_TIME_FIELD = "actionDate"

SCHEMA = th.PropertiesList(
    th.Property(
        "log_key",
        th.StringType,
        required=True,
        description="Stable key: sha256 of the API id (or of the whole entry) and the app.",
    ),
    th.Property(
        "mobileAppId",
        th.StringType,
        required=True,
        description="Partition: the mobile app the entry was read for (the request's "
        "mobileAppId), unless the entry names its own.",
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
    replication_key = DEFAULT_TIME_FIELD
    is_sorted = False
    # The endpoint page documents `result` (the entries, maybe none) on every answer.
    records_key = "result"
    answer_keys = ("result",)
    schema = SCHEMA

    source = "tixngo"
    source_label = "TIXNGO"
    partition_key = "mobile_app_id"
    described_params = ("paginationKey",)

    @override
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        configured = self.source_config.get("time_field")
        if configured:
            self.replication_key = configured
            self.schema = with_time_field(self.schema, configured)

    @override
    def replication_key_from_sample(self, records: list[dict[str, Any]]) -> str | None:
        # A field the user named is kept; so is the default where the entries carry it.
        key = self.replication_key
        if self.source_config.get("time_field") or not records:
            return None
        if all(record.get(key) not in (None, "") for record in records):
            return None
        found = time_fields(records)
        return found[0] if len(found) == 1 else None

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
        key = self.replication_key or DEFAULT_TIME_FIELD
        when = row.get(key)
        if when is None or when == "":
            raise self.no_time_error(row, key, context)
        row[key] = normalise(when)
        if key != DEFAULT_TIME_FIELD and row.get(DEFAULT_TIME_FIELD):
            row[DEFAULT_TIME_FIELD] = normalise(row[DEFAULT_TIME_FIELD])
        # records.carry_partition, inlined: this runs once per entry of a bulk backfill.
        carried = row.get("mobileAppId")
        if carried is None or carried == "":
            row["mobileAppId"] = app_id
        return row

    def no_time_error(
        self, row: dict[str, Any], key: str, context: Context | None
    ) -> SourceAPIError:
        """An entry without the replication key: the tap's guess of the time field is wrong
        for this account, and the bookmark cannot be trusted with it."""
        found = time_fields([row])
        shown = ", ".join(found) if found else "none"
        return self.record_error(
            context,
            f"an entry carries no '{key}' (the replication key); its date-time fields: "
            f"{shown}. Name the entry's time field in 'tixngo.time_field' (and run discovery "
            "again if the catalog is kept)",
        )


def time_fields(records: list[dict[str, Any]]) -> list[str]:
    """The fields every record carries as a date-time, in the first record's order."""
    inferred = infer_properties(records, {})
    return [
        name
        for name in records[0]
        if inferred.get(name, {}).get("format") == "date-time"
        and all(record.get(name) not in (None, "") for record in records)
    ]


def with_time_field(schema: dict[str, Any], field: str) -> dict[str, Any]:
    """``schema`` declaring ``field`` as the entries' date-time, and not the guess it replaces
    (declared again by schema evolution if the entries carry it after all)."""
    properties = {
        name: prop
        for name, prop in schema["properties"].items()
        if name != DEFAULT_TIME_FIELD or field == DEFAULT_TIME_FIELD
    }
    if properties.get(field, {}).get("format") == "date-time":
        return {**schema, "properties": properties}
    described = {
        "type": ["string"],
        "format": "date-time",
        "description": "When the action happened (UTC): the entries' time field.",
    }
    return {**schema, "properties": {**properties, field: described}}


STREAM_TYPES = (TixngoTicketStatusLogsStream,)
