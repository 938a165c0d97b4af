"""The ``akana_transaction_logs`` stream."""

from __future__ import annotations

from typing import ClassVar

from singer_sdk import typing as th

from tap_ticketlogs.sources.akana.client import AkanaStream

# Fields as the vendor's sample spells them; any field a later platform version adds is let
# through by additional_properties.
SCHEMA = th.PropertiesList(
    th.Property("TransactionID", th.StringType, required=True, description="Transaction id."),
    th.Property(
        "log_key",
        th.StringType,
        description="sha256 of the transaction (RequestDateTime in UTC) and app version.",
    ),
    th.Property(
        "RequestDateTime",
        th.DateTimeType,
        description="When the request arrived, normalised to UTC.",
    ),
    th.Property("ResponseTime", th.StringType, description="ISO-8601 duration, as sent."),
    th.Property("response_time_ms", th.IntegerType, description="ResponseTime in milliseconds."),
    th.Property("APIResponseTime", th.StringType, description="ISO-8601 duration, as sent."),
    th.Property(
        "api_response_time_ms", th.IntegerType, description="APIResponseTime in milliseconds."
    ),
    th.Property("ResponseStatusCode", th.IntegerType),
    th.Property("RequestMessageSize", th.IntegerType, description="Bytes."),
    th.Property("ResponseMessageSize", th.IntegerType, description="Bytes."),
    th.Property("APIID", th.StringType),
    th.Property("APIName", th.StringType),
    th.Property("APIVersionID", th.StringType),
    th.Property("APIVersionName", th.StringType),
    th.Property("APIURL", th.StringType),
    th.Property("MethodName", th.StringType),
    th.Property("MethodKey", th.StringType),
    th.Property("HttpVerb", th.StringType),
    th.Property("AppID", th.StringType),
    th.Property("AppName", th.StringType),
    th.Property(
        "AppVersionID",
        th.StringType,
        required=True,
        description="Partition: the app version the log was read for, unless the entry "
        "names its own.",
    ),
    th.Property("AppVersionName", th.StringType),
    th.Property("AppRuntimeID", th.StringType),
    th.Property("ClientHost", th.StringType),
    additional_properties=True,
).to_dict()


class AkanaTransactionLogsStream(AkanaStream):
    """Transaction logs of each configured app version, by StartDate/EndDate window.

    Bookmark per app version: the end of the last fully read window (see WindowedStream).
    """

    name = "akana_transaction_logs"
    path = "/api/apps/versions/{app_version_id}/txlogs"
    primary_keys: ClassVar[list[str]] = ["TransactionID"]
    replication_key = "RequestDateTime"
    # Newest first within a window (vendor page), windows oldest first: not sorted.
    is_sorted = False
    schema = SCHEMA


STREAM_TYPES = (AkanaTransactionLogsStream,)
