"""The ``socialboards`` section of the configuration."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from singer_sdk import typing as th

from tap_ticketlogs.settings.common import (
    base_url_setting,
    discovery_sampling_setting,
    page_size_setting,
    requests_per_second_setting,
)
from tap_ticketlogs.settings.validation import require_one_of

PAGE_SIZE_MAX = 50
# Tickets are listed newest thread activity first and the listing stops this long before the
# log bookmark: log-only actions (a status change, a read) do not move a ticket's thread
# activity, so a ticket whose last reply is a little older than the bookmark can still gain
# log entries. A day covers the usual "reply, then close the next morning" pattern.
ACTIVITY_MARGIN_HOURS_DEFAULT = 24

SECTION = th.ObjectType(
    base_url_setting("Socialboards", "the Socialboards Ticket API v2"),
    th.Property(
        "client_id",
        th.StringType,
        title="Socialboards client id",
        description="OAuth client id used with the refresh token.",
    ),
    th.Property(
        "refresh_token",
        th.StringType,
        secret=True,
        title="Socialboards refresh token",
        description="Exchanged at POST {base_url}/token for short-lived access tokens.",
    ),
    th.Property(
        "access_token",
        th.StringType,
        secret=True,
        title="Socialboards access token",
        description="A static access token, instead of client_id + refresh_token.",
    ),
    th.Property(
        "ticket_ids",
        th.ArrayType(th.IntegerType),
        title="Socialboards ticket ids",
        description="Exactly these tickets; unset: tickets from the list endpoint.",
    ),
    th.Property(
        "action_types",
        th.ArrayType(th.StringType),
        default=[],
        title="Socialboards action types",
        description="Only these log action types (Ticket action type enumeration, "
        "e.g. ticket_status_changed, ticket_read); empty for all.",
    ),
    page_size_setting("Socialboards", "take", PAGE_SIZE_MAX),
    discovery_sampling_setting("Socialboards", documented=True),
    requests_per_second_setting("Socialboards"),
    th.Property(
        "activity_margin_hours",
        th.IntegerType(minimum=0, maximum=24 * 366),
        default=ACTIVITY_MARGIN_HOURS_DEFAULT,
        title="Socialboards activity margin hours",
        description="Incremental runs read the logs of tickets whose last thread activity "
        "is at most this long before the bookmark; older, idle tickets are not re-read.",
    ),
)


def check_section(section: Mapping[str, Any]) -> None:
    """What the schema cannot say: an access token, or a client id and refresh token."""
    require_one_of("socialboards", section, ("access_token",), ("client_id", "refresh_token"))
