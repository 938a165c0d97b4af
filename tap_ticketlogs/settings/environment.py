"""Settings from environment variables (``TAP_TICKETLOGS_LAG_MINUTES``,
``TAP_TICKETLOGS_TIXNGO_API_KEY``) and a ``.env`` file, for ``--config ENV``.

Replaces the SDK's reader, which reads only top-level settings (the four vendor sections are
nested objects) and ends in a traceback on ``TAP_TICKETLOGS_LAG_MINUTES=abc``. Here whole
numbers and lists stay text, as Meltano's ``string`` kind passes them too, so one reader
(``config_validation.read_text_settings``) turns them into numbers and lists for every
config source, and validation rejects anything else in one line naming the setting.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from typing import Any

from dotenv import dotenv_values, find_dotenv

from tap_ticketlogs.errors import ConfigError

_TRUTHY = ("true", "1", "yes", "on")


def environment_with_dotenv(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The environment, plus the variables of the nearest ``.env`` (from the working
    directory up) that the environment does not set: the environment wins, as in Meltano."""
    path = find_dotenv(usecwd=True)
    from_file = {name: value for name, value in dotenv_values(path).items() if value is not None}
    return {**from_file, **environ}


def env_settings(
    schema: Mapping[str, Any],
    sections: Iterable[str],
    prefix: str,
    environ: Mapping[str, str],
) -> dict[str, Any]:
    """Every ``<PREFIX><SETTING>`` and ``<PREFIX><SECTION>_<SETTING>`` variable set, as
    ``{setting: value, section: {setting: value}}`` typed by the settings schema."""
    sections = tuple(sections)
    found: dict[str, Any] = {}
    for setting, prop in schema["properties"].items():
        name = f"{prefix}{setting}".upper()
        if setting not in sections and name in environ:
            found[setting] = _typed(environ[name], prop, setting, name)
    for section in sections:
        for setting, prop in schema["properties"][section]["properties"].items():
            name = f"{prefix}{section}_{setting}".upper()
            if name in environ:
                typed = _typed(environ[name], prop, f"{section}.{setting}", name)
                found.setdefault(section, {})[setting] = typed
    return found


def merged_config(config: Mapping[str, Any], env: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` with the environment's settings over it, setting by setting (a section
    from the environment updates the file's section instead of replacing it)."""
    merged = dict(config)
    for name, value in env.items():
        if isinstance(value, dict) and isinstance(merged.get(name), Mapping):
            merged[name] = {**merged[name], **value}
        else:
            merged[name] = value
    return merged


def _typed(text: str, prop: Mapping[str, Any], setting: str, variable: str) -> Any:  # noqa: ANN401 - any setting value
    types = prop.get("type", "string")
    types = {types} if isinstance(types, str) else set(types)
    if "boolean" in types:
        return text.strip().lower() in _TRUTHY
    if "object" in types:
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if not isinstance(value, dict):
            msg = f"setting '{setting}' (environment variable {variable}) is not a JSON object"
            raise ConfigError(msg)
        return value
    return text
