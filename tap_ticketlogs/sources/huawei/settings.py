"""The ``huawei`` section of the configuration."""

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

PAGE_SIZE_MAX = 100
OFFSET_MAX = 65_535
LANGUAGES = ("en-us", "zh-cn")
CLOSED_CASE_LOOKBACK_DAYS_DEFAULT = 30

SECTION = th.ObjectType(
    base_url_setting("Huawei", "the service ticket API"),
    th.Property(
        "auth_token",
        th.StringType,
        secret=True,
        title="Huawei auth token",
        description="An IAM token sent as X-Auth-Token; or the IAM login settings.",
    ),
    th.Property(
        "iam_url",
        th.URIType,
        title="Huawei IAM URL",
        description="IAM endpoint for password login (POST {iam_url}/v3/auth/tokens).",
    ),
    th.Property(
        "domain_name",
        th.StringType,
        title="Huawei domain name",
        description="Account (domain) of the IAM user.",
    ),
    th.Property("user_name", th.StringType, title="Huawei user name", description="IAM user name."),
    th.Property(
        "password",
        th.StringType,
        secret=True,
        title="Huawei password",
        description="IAM user password.",
    ),
    th.Property(
        "project_name",
        th.StringType,
        title="Huawei project name",
        description="Project scope of the token; unset: domain scope.",
    ),
    th.Property(
        "case_ids",
        th.ArrayType(th.StringType),
        title="Huawei case ids",
        description="Exactly these cases; unset: cases from the list endpoint.",
    ),
    th.Property(
        "group_id",
        th.StringType,
        title="Huawei group id",
        description="Group id passed to the list and log endpoints.",
    ),
    th.Property(
        "language",
        th.StringType(allowed_values=list(LANGUAGES)),
        default="en-us",
        title="Huawei language",
        description="X-Language header (en-us or zh-cn).",
    ),
    page_size_setting("Huawei", "limit", PAGE_SIZE_MAX),
    th.Property(
        "closed_case_lookback_days",
        th.IntegerType(minimum=0, maximum=3660),
        default=CLOSED_CASE_LOOKBACK_DAYS_DEFAULT,
        title="Huawei closed case lookback days",
        description="Incremental runs read the logs of open cases and of cases created "
        "since the oldest case open at the last run, but at most this many days before "
        "the bookmark; older closed cases are not re-read.",
    ),
    discovery_sampling_setting("Huawei", documented=True),
    requests_per_second_setting("Huawei"),
)


def check_section(section: Mapping[str, Any]) -> None:
    """What the schema cannot say: a token, or everything an IAM password login needs."""
    require_one_of(
        "huawei", section, ("auth_token",), ("iam_url", "domain_name", "user_name", "password")
    )
