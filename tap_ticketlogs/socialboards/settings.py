"""The ``socialboards`` section of the configuration."""

from __future__ import annotations

from singer_sdk import typing as th

PAGE_SIZE_MAX = 50
SECTION = th.ObjectType(
    th.Property(
        "base_url",
        th.URIType,
        required=True,
        title="Socialboards base URL",
        description="Root URL of the Socialboards Ticket API v2 (https; http only on loopback).",
    ),
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
        description="Only these log action types; empty for all.",
    ),
    th.Property(
        "page_size",
        th.IntegerType(minimum=1, maximum=PAGE_SIZE_MAX),
        default=PAGE_SIZE_MAX,
        title="Socialboards page size",
        description="'take' per request (at most 50).",
    ),
)
