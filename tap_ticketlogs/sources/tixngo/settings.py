"""The ``tixngo`` section of the configuration."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from singer_sdk import typing as th

from tap_ticketlogs.errors import ConfigError
from tap_ticketlogs.settings.common import (
    base_url_setting,
    discovery_sampling_setting,
    page_size_setting,
    requests_per_second_setting,
    window_hours_setting,
)

PAGE_SIZE_MAX = 10_000
AUTH_SCHEMES = ("bearer", "header", "basic")

SECTION = th.ObjectType(
    base_url_setting("TIXNGO", "the TIXNGO API"),
    th.Property(
        "api_key",
        th.StringType,
        required=True,
        secret=True,
        title="TIXNGO API key",
        description="API key of the organizer account.",
    ),
    th.Property(
        "auth_scheme",
        th.StringType(allowed_values=list(AUTH_SCHEMES)),
        default="bearer",
        title="TIXNGO auth scheme",
        description="How the API key is sent: 'bearer' (Authorization: Bearer KEY), "
        "'header' (KEY in the header named by auth_header), 'basic' (email:KEY).",
    ),
    th.Property(
        "auth_header",
        th.StringType,
        default="Authorization",
        title="TIXNGO auth header",
        description="Header that carries the API key when auth_scheme is 'header'.",
    ),
    th.Property(
        "email",
        th.StringType,
        title="TIXNGO email",
        description="User name for auth_scheme 'basic'.",
    ),
    th.Property(
        "mobile_app_ids",
        th.ArrayType(th.StringType),
        required=True,
        title="TIXNGO mobile app ids",
        description="Mobile applications to extract; one partition (and bookmark) each.",
    ),
    th.Property(
        "time_field",
        th.StringType,
        title="TIXNGO time field",
        description="The entry field that holds when the action happened: the stream's "
        "replication key. Default: found by discovery sampling (actionDate if the entries "
        "carry it, else the one field every sampled entry carries as a date-time); "
        "actionDate without a sample.",
    ),
    window_hours_setting("TIXNGO", "from/to time"),
    page_size_setting("TIXNGO", "limit", PAGE_SIZE_MAX),
    discovery_sampling_setting("TIXNGO", documented=False),
    requests_per_second_setting("TIXNGO"),
    th.Property(
        "action_names",
        th.ArrayType(th.StringType),
        default=[],
        title="TIXNGO action names",
        description="Only these actions (e.g. Download, Activate); empty for all.",
    ),
    th.Property(
        "from_statuses",
        th.ArrayType(th.StringType),
        default=[],
        title="TIXNGO from statuses",
        description="Only entries leaving these statuses.",
    ),
    th.Property(
        "to_statuses",
        th.ArrayType(th.StringType),
        default=[],
        title="TIXNGO to statuses",
        description="Only entries reaching these statuses.",
    ),
    th.Property(
        "from_owner_id",
        th.StringType,
        title="TIXNGO from owner id",
        description="Only entries whose previous owner is this id.",
    ),
    th.Property(
        "to_owner_id",
        th.StringType,
        title="TIXNGO to owner id",
        description="Only entries whose new owner is this id.",
    ),
    th.Property(
        "actor",
        th.StringType,
        title="TIXNGO actor",
        description="Only entries performed by this actor.",
    ),
)


def check_section(section: Mapping[str, Any]) -> None:
    """What the schema cannot say: at least one app; an email for the basic scheme."""
    if not section.get("mobile_app_ids"):
        msg = "setting 'tixngo.mobile_app_ids' must list at least one mobile app id"
        raise ConfigError(msg)
    if section.get("auth_scheme") == "basic" and not section.get("email"):
        msg = "setting 'tixngo.email' is required when 'tixngo.auth_scheme' is 'basic'"
        raise ConfigError(msg)
