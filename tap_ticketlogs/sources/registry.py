"""The one list of vendors: a fifth is its package under sources/ plus one line here.

Each name is a package ``tap_ticketlogs.sources.<name>`` whose ``SOURCE`` is its declaration
(``sources/source.py``). The order is the order of the settings (``--about``, the README
table, meltano.yml).
"""

from __future__ import annotations

import importlib

from tap_ticketlogs.sources.source import Source

VENDORS = (
    "tixngo",
    "akana",
    "socialboards",
    "huawei",
)


def _declaration(name: str) -> Source:
    source = getattr(importlib.import_module(f"tap_ticketlogs.sources.{name}"), "SOURCE", None)
    if not isinstance(source, Source) or source.name != name:
        msg = f"tap_ticketlogs.sources.{name} must declare SOURCE = Source(name={name!r}, ...)"
        raise TypeError(msg)
    return source


SOURCES: tuple[Source, ...] = tuple(_declaration(name) for name in VENDORS)
