"""Print the extractor's `settings:` block for meltano.yml from the tap's settings schema.

The test suite compares meltano.yml with this output, so the two never drift apart:
    python scripts/meltano_settings.py
"""

from __future__ import annotations

import copy
from typing import Any

import yaml

from tap_ticketlogs.tap import TapTicketLogs

# Meltano casts a value from the environment, `.env` or `meltano config set` by its kind
# before the tap starts, and a value it cannot cast ends inside Meltano with a traceback:
# `decimal` becomes a Decimal that Meltano cannot write to the tap's JSON config, `integer`
# fails on `abc` naming no setting, `array` on `a,b`, `options` on a value not listed. The
# tap's own whole-number, list and choice settings are therefore `string`: the value reaches
# the tap as given, and the tap reads it (settings.validation.read_text_settings) or rejects it
# in one line that names the setting. `boolean` and `date_iso8601` pass through unharmed.
# The SDK's built-in settings too: `flattening_max_depth=abc` or `stream_maps='{bad'` ended
# in Meltano's traceback; as `string`, a JSON object given as text reaches the tap as text
# and is read there, and one written as YAML in meltano.yml reaches it unchanged.
_KINDS = {
    "string": "string",
    "integer": "string",
    "boolean": "boolean",
    "array": "string",
    "object": "string",
}


def _kind(prop: dict[str, Any]) -> str:
    types = prop.get("type", ["string"])
    types = [types] if isinstance(types, str) else [t for t in types if t != "null"]
    if prop.get("format") == "date-time":
        return "date_iso8601"
    return _KINDS[types[0]]


def meltano_settings(schema: dict[str, Any], prefix: str = "") -> list[dict[str, Any]]:
    """One Meltano setting per leaf of the schema, nested sections as dotted names."""
    settings: list[dict[str, Any]] = []
    for name, prop in schema["properties"].items():
        if "properties" in prop:
            settings.extend(meltano_settings(prop, f"{prefix}{name}."))
            continue
        setting: dict[str, Any] = {
            "name": f"{prefix}{name}",
            "kind": _kind(prop),
            "label": prop.get("title", name),
            "description": prop.get("description", ""),
        }
        # Defaults stay with the tap: a Meltano default inside a section would make that
        # section look configured (and its source discovered) for users who never set it.
        if "default" in prop and not prefix:
            setting["value"] = prop["default"]
        if prop.get("secret") or prop.get("writeOnly"):
            setting["sensitive"] = True
        settings.append(setting)
    return settings


def extractor_settings() -> list[dict[str, Any]]:
    """The tap's own settings, then the SDK's built-in ones (stream maps, flattening, batch)
    as whole objects, so Meltano passes them through."""
    own = TapTicketLogs.config_jsonschema
    full = copy.deepcopy(own)
    TapTicketLogs.append_builtin_config(full)
    builtin = {
        name: {key: value for key, value in prop.items() if key != "properties"}
        for name, prop in full["properties"].items()
        if name not in own["properties"]
    }
    return meltano_settings(own) + meltano_settings({"properties": builtin})


def main() -> None:
    print(yaml.safe_dump(extractor_settings(), sort_keys=False, width=100))


if __name__ == "__main__":
    main()
