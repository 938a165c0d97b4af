"""Vendor-section settings from environment variables (``TAP_TICKETLOGS_TIXNGO_API_KEY``).

The SDK reads only top-level settings from the environment (``--config ENV``); the four
sections are nested objects, so their settings are read here, typed by the settings schema.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from typing import Any

_TRUTHY = ("true", "1", "yes", "on")


def section_env_settings(
    schema: Mapping[str, Any],
    sections: Iterable[str],
    prefix: str,
    environ: Mapping[str, str] = os.environ,
) -> dict[str, dict[str, Any]]:
    """``{section: {setting: value}}`` for every ``<PREFIX><SECTION>_<SETTING>`` variable set."""
    found: dict[str, dict[str, Any]] = {}
    for section in sections:
        for setting, prop in schema["properties"][section]["properties"].items():
            name = f"{prefix}{section}_{setting}".upper()
            if name in environ:
                found.setdefault(section, {})[setting] = _typed(environ[name], prop)
    return found


def _typed(text: str, prop: Mapping[str, Any]) -> Any:  # noqa: ANN401 - any setting value
    types = prop.get("type", "string")
    types = {types} if isinstance(types, str) else set(types)
    if "integer" in types:
        return int(text)
    if "number" in types:
        return float(text)
    if "boolean" in types:
        return text.strip().lower() in _TRUTHY
    if "array" in types:
        # JSON (["a", "b"]), or a plain comma-separated list of strings.
        return json.loads(text) if text.lstrip().startswith("[") else text.split(",")
    return text
