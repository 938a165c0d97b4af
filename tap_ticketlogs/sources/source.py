"""What a vendor is to the tap: one declaration, listed once in ``registry.py``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from singer_sdk import Stream
from singer_sdk import typing as th


def no_checks(section: Mapping[str, Any]) -> None:
    """A source whose settings schema says everything there is to check."""


@dataclass(frozen=True)
class Source:
    """A vendor: its config section, its streams, its own checks and its simulator.

    The tap's settings, config validation, discovery, the sandbox server and the generated
    docs all read these fields from the registry; nothing else names a vendor.
    """

    #: The config section (``tixngo``), also the prefix of the Meltano settings.
    name: str
    #: How log and error lines and ``--about`` name the vendor (``TIXNGO``).
    label: str
    #: The section's one-line description in ``--about`` and meltano.yml.
    description: str
    #: The section's settings.
    settings: th.ObjectType
    #: The stream classes, parents before their children.
    streams: tuple[type[Stream], ...]
    #: Checks of the section that its schema cannot say (one of two credentials, a
    #: non-empty list); raises ``ConfigError`` with one line naming the setting.
    check: Callable[[Mapping[str, Any]], None] = no_checks
    #: Settings holding a URL the tap sends credentials to: https, or http on loopback.
    url_settings: tuple[str, ...] = ("base_url",)
    #: The module of its simulator (``create_api(seed, records)``), which only the sandbox
    #: imports: a name, so that loading the tap never loads it.
    sandbox_module: str | None = None
