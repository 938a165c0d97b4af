"""The one list of vendors: a fifth is its package under sources/ plus one line here."""

from __future__ import annotations

from tap_ticketlogs.sources import akana, huawei, socialboards, tixngo
from tap_ticketlogs.sources.source import Source

SOURCES: tuple[Source, ...] = (tixngo.SOURCE, akana.SOURCE, socialboards.SOURCE, huawei.SOURCE)
