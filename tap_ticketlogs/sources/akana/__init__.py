"""Akana API Platform transaction logs."""

from tap_ticketlogs.sources.akana.settings import SECTION, check_section
from tap_ticketlogs.sources.akana.streams import STREAM_TYPES
from tap_ticketlogs.sources.source import Source

SOURCE = Source(
    name="akana",
    label="Akana",
    description="Akana API Platform transaction logs; omit to skip the source.",
    settings=SECTION,
    streams=STREAM_TYPES,
    check=check_section,
    sandbox_module="tap_ticketlogs.sources.akana.sandbox",
)
