"""Socialboards tickets and their logs."""

from tap_ticketlogs.sources.socialboards.settings import SECTION, check_section
from tap_ticketlogs.sources.socialboards.streams import STREAM_TYPES
from tap_ticketlogs.sources.source import Source

SOURCE = Source(
    name="socialboards",
    label="Socialboards",
    description="Socialboards tickets and ticket logs; omit to skip the source.",
    settings=SECTION,
    streams=STREAM_TYPES,
    check=check_section,
    sandbox_module="tap_ticketlogs.sources.socialboards.sandbox",
)
