"""The ``akana`` section of the configuration."""

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
from tap_ticketlogs.settings.validation import require_one_of

PAGE_SIZE_MAX = 1_000
ENVIRONMENTS = ("Production", "Sandbox")

SECTION = th.ObjectType(
    base_url_setting("Akana", "the Akana API Platform"),
    th.Property(
        "fed_member_id",
        th.StringType,
        required=True,
        title="Akana fed member id",
        description="Tenant id that names the AtmoAuthToken_ cookie and the CSRF header.",
    ),
    th.Property(
        "auth_token",
        th.StringType,
        secret=True,
        title="Akana auth token",
        description="Value of the AtmoAuthToken_{fed_member_id} cookie (lasts about 30 "
        "minutes, not renewed); or email+password.",
    ),
    th.Property(
        "csrf_token",
        th.StringType,
        secret=True,
        title="Akana CSRF token",
        description="Value of the X-Csrf-Token_{fed_member_id} header, when required.",
    ),
    th.Property(
        "email",
        th.StringType,
        title="Akana email",
        description="Login email: with password, the tap logs in (POST /api/login), renews "
        "the session cookie before it expires and logs in again once after a 401.",
    ),
    th.Property(
        "password",
        th.StringType,
        secret=True,
        title="Akana password",
        description="Login password (POST /api/login).",
    ),
    th.Property(
        "app_version_ids",
        th.ArrayType(th.StringType),
        required=True,
        title="Akana app version ids",
        description="App versions to extract; one partition (and bookmark) each.",
    ),
    th.Property(
        "environment",
        th.StringType(allowed_values=list(ENVIRONMENTS)),
        default="Production",
        title="Akana environment",
        description="Implementation to read: Production or Sandbox.",
    ),
    th.Property(
        "contract_id",
        th.StringType,
        title="Akana contract id",
        description="Only transactions of this app/API contract.",
    ),
    window_hours_setting("Akana", "StartDate/EndDate"),
    page_size_setting("Akana", "count", PAGE_SIZE_MAX),
    discovery_sampling_setting("Akana", documented=True),
    requests_per_second_setting("Akana"),
)


def check_section(section: Mapping[str, Any]) -> None:
    """What the schema cannot say: at least one app version; a token or a login."""
    if not section.get("app_version_ids"):
        msg = "setting 'akana.app_version_ids' must list at least one app version id"
        raise ConfigError(msg)
    require_one_of("akana", section, ("auth_token",), ("email", "password"))
