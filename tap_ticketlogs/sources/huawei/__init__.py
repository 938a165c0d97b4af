"""Huawei Cloud service-ticket cases and their operation logs."""

from tap_ticketlogs.sources.huawei.settings import SECTION, check_section
from tap_ticketlogs.sources.huawei.streams import STREAM_TYPES
from tap_ticketlogs.sources.source import Source

SOURCE = Source(
    name="huawei",
    label="Huawei Cloud",
    description="Huawei Cloud cases and case operation logs; omit to skip the source.",
    settings=SECTION,
    streams=STREAM_TYPES,
    check=check_section,
    url_settings=("base_url", "iam_url"),
    sandbox_module="tap_ticketlogs.sources.huawei.sandbox",
)
