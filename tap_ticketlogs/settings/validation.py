"""Configuration checks that run before any request, each failing with one line."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from typing import Any, Protocol, cast

from jsonschema import Draft7Validator, ValidationError
from jsonschema.exceptions import best_match

from tap_ticketlogs.errors import ConfigError
from tap_ticketlogs.http.session import transport_problem
from tap_ticketlogs.timeutil import parse_datetime

_WHOLE_NUMBER = re.compile(r"\s*[+-]?[0-9]+\s*")


class SectionRules(Protocol):
    """What validation needs of a source (``sources.source.Source`` is one)."""

    @property
    def name(self) -> str: ...

    @property
    def check(self) -> Callable[[Mapping[str, Any]], None]: ...

    @property
    def url_settings(self) -> tuple[str, ...]: ...


def read_text_settings(config: MutableMapping[str, Any], schema: Mapping[str, Any]) -> None:
    """Read settings given as text, in place, where the schema wants a number, a list or
    an object.

    Meltano passes whole-number, list and object settings as the text given (their kind is
    ``string``, see scripts/meltano_settings.py), and so does the environment: digits become
    integers, a list is a JSON array or comma-separated, an object (``stream_maps``,
    ``batch_config``) a JSON object. Text that reads as none of these is left as it is, for
    :func:`validate_config` to reject by name.
    """
    for name, prop in schema.get("properties", {}).items():
        if name not in config:
            continue
        value = config[name]
        if _wants(prop, "integer"):
            config[name] = _whole_number(value)
        elif _wants(prop, "array"):
            value = _list(value)
            if isinstance(value, list) and _wants(prop.get("items", {}), "integer"):
                value = [_whole_number(item) for item in value]
            config[name] = value
        elif isinstance(value, MutableMapping) and "properties" in prop:
            read_text_settings(value, prop)
        elif _wants(prop, "object") and isinstance(value, str):
            config[name] = _json_object(value)


def _list(value: Any) -> Any:  # noqa: ANN401 - any setting value
    if not isinstance(value, str):
        return value
    if value.lstrip().startswith("["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return [item.strip() for item in value.split(",") if item.strip()]


def _json_object(value: str) -> Any:  # noqa: ANN401 - any setting value
    try:
        parsed = json.loads(value)
    except ValueError:
        return value
    return parsed if isinstance(parsed, dict) else value


def _wants(prop: Mapping[str, Any], json_type: str) -> bool:
    types = prop.get("type", ())
    return json_type == types if isinstance(types, str) else json_type in types


def _whole_number(value: Any) -> Any:  # noqa: ANN401 - any setting value
    if isinstance(value, str) and _WHOLE_NUMBER.fullmatch(value):
        return int(value)
    return value


def fill_defaults(config: MutableMapping[str, Any], schema: Mapping[str, Any]) -> None:
    """Give every setting ``schema`` has a default for, and ``config`` leaves out, that
    default, in place (and so in each section ``config`` has): each default is written once,
    in its declaration, and code reads ``config[name]``."""
    for name, prop in schema.get("properties", {}).items():
        if name not in config:
            if "default" in prop:
                config[name] = json.loads(json.dumps(prop["default"]))  # a copy of it
        elif isinstance(config[name], MutableMapping) and "properties" in prop:
            fill_defaults(config[name], prop)


def check_known_settings(
    config: Mapping[str, Any], schema: Mapping[str, Any], sections: Sequence[str]
) -> None:
    """Raise :class:`ConfigError` for a setting the tap does not know (a typo would
    otherwise be ignored silently), naming the closest known setting."""
    properties: Mapping[str, Any] = schema.get("properties", {})
    for name, value in config.items():
        if name not in properties:
            raise ConfigError(_unknown_setting(name, properties, ""))
        if name in sections and isinstance(value, Mapping):
            section = properties[name].get("properties", {})
            for setting in value:
                if setting not in section:
                    raise ConfigError(_unknown_setting(setting, section, f"{name}."))


#: Settings other SDK taps know that this tap refuses on purpose, and why.
_UNSUPPORTED = {
    "emit_activate_version_messages": (
        "this tap never sends a whole table (each run reads what changed since its "
        "bookmark), so an ACTIVATE_VERSION would make the loader mark every other row deleted"
    ),
}


def _unknown_setting(name: str, known: Mapping[str, Any], prefix: str) -> str:
    if not prefix and name in _UNSUPPORTED:
        return f"setting '{name}' is not supported: {_UNSUPPORTED[name]}"
    message = f"unknown setting '{prefix}{name}'"
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    if close:
        return f"{message}: did you mean '{prefix}{close[0]}'?"
    return f"{message}; tap-ticketlogs --about lists the settings"


def validate_config(
    config: Mapping[str, Any],
    schema: Mapping[str, Any],
    sources: Sequence[SectionRules],
    run_checks: Sequence[Callable[[Mapping[str, Any]], object]] = (),
) -> None:
    """Raise :class:`ConfigError` naming the first invalid setting; return when all is well.

    ``schema`` is the full settings schema, the SDK's built-in settings included; each of
    ``sources`` brings the checks of its section, ``run_checks`` those of settings that
    span them (the shard pair).
    """
    check_known_settings(config, schema, [source.name for source in sources])
    error = best_match(Draft7Validator(schema).iter_errors(dict(config)))
    if error is not None:
        raise ConfigError(_describe_schema_error(error))
    _check_defaulted_nulls(config, schema)
    configured = [source for source in sources if config.get(source.name)]
    if not configured:
        names = ", ".join(f"'{source.name}'" for source in sources)
        msg = f"no source is configured: add at least one of the sections {names}"
        raise ConfigError(msg)
    _check_date_range(config)
    for check in run_checks:
        check(config)
    for source in configured:
        section = config[source.name]
        for setting in source.url_settings:
            if section.get(setting):
                _check_url(f"{source.name}.{setting}", str(section[setting]))
        source.check(section)


def _check_defaulted_nulls(
    config: Mapping[str, Any], schema: Mapping[str, Any], prefix: str = ""
) -> None:
    """A null where the setting has a default: the schema allows null, the code reads a value.

    Refused rather than guessed, so the line says which setting to leave out.
    """
    for name, prop in (schema.get("properties") or {}).items():
        value = config.get(name)
        if name in config and value is None and "default" in prop:
            msg = (
                f"setting '{prefix}{name}' is null: leave it out to use the default "
                f"({json.dumps(prop['default'])}) or give a value"
            )
            raise ConfigError(msg)
        if isinstance(value, Mapping) and "properties" in prop:
            _check_defaulted_nulls(value, prop, f"{prefix}{name}.")


def _describe_schema_error(error: ValidationError) -> str:
    path = ".".join(str(part) for part in error.absolute_path)
    if error.validator == "required":
        missing = str(error.message).split("'")[1]
        setting = f"{path}.{missing}" if path else missing
        return f"setting '{setting}' is required"
    if error.validator == "enum":
        allowed = ", ".join(repr(value) for value in cast("list[Any]", error.validator_value))
        return f"setting '{path}' must be one of {allowed}, not {error.instance!r}"
    if error.validator == "type" and _wants({"type": error.validator_value}, "integer"):
        return f"setting '{path}' must be a whole number, not {error.instance!r}"
    if error.validator == "type" and _wants({"type": error.validator_value}, "array"):
        return f"setting '{path}' must be a JSON array or a comma-separated list"
    # Other messages quote the offending value: fine, secrets are strings without limits.
    return f"setting '{path}' is invalid: {error.message}"


def _check_date_range(config: Mapping[str, Any]) -> None:
    for setting in ("start_date", "end_date"):
        # An empty start_date is no date either (an empty end_date means none, as null does).
        if config.get(setting) or setting == "start_date":
            try:
                parse_datetime(str(config[setting]))
            except ValueError:
                msg = f"setting '{setting}' is not an ISO-8601 date-time: {config[setting]!r}"
                raise ConfigError(msg) from None
    if config.get("end_date") and parse_datetime(config["start_date"]) > parse_datetime(
        config["end_date"]
    ):
        msg = "setting 'start_date' is after 'end_date'"
        raise ConfigError(msg)


def _check_url(setting: str, url: str) -> None:
    # The session's own rule (http.session), checked before any request is sent.
    if transport_problem(url) is None:
        return
    msg = f"setting '{setting}' must be an https URL (plain http only on loopback), got {url!r}"
    raise ConfigError(msg)


def require_one_of(
    section_name: str, section: Mapping[str, Any], *options: tuple[str, ...]
) -> None:
    """Raise :class:`ConfigError` unless every setting of one of ``options`` is set (one
    of two ways to give credentials)."""
    if any(all(section.get(key) for key in option) for option in options):
        return
    choices = " or ".join("+".join(f"{section_name}.{key}" for key in option) for option in options)
    msg = f"settings for {section_name} credentials are missing: set {choices}"
    raise ConfigError(msg)
