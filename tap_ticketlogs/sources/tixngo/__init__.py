"""TIXNGO ticket status logs (Reporting domain)."""

from tap_ticketlogs.sources.source import Source
from tap_ticketlogs.sources.tixngo.settings import SECTION, check_section
from tap_ticketlogs.sources.tixngo.streams import STREAM_TYPES

SOURCE = Source(
    name="tixngo",
    label="TIXNGO",
    description="TIXNGO ticket status logs; omit to skip the source.",
    settings=SECTION,
    streams=STREAM_TYPES,
    check=check_section,
    sandbox_module="tap_ticketlogs.sources.tixngo.sandbox",
)
