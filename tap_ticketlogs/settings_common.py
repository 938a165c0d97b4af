"""Settings every vendor section declares alike: its base URL, window width and page size."""

from __future__ import annotations

from singer_sdk import typing as th


def base_url_setting(label: str, api: str) -> th.Property[str]:
    """``base_url``: https, or plain http on loopback (checked by config_validation)."""
    return th.Property(
        "base_url",
        th.URIType,
        required=True,
        title=f"{label} base URL",
        description=f"Root URL of {api} (https; http only on loopback).",
    )


def window_hours_setting(label: str, parameters: str) -> th.Property[int]:
    """``window_hours``: the width of each requested time window, in whole hours (an
    integer round-trips through Meltano's settings, where a decimal arrives as Decimal)."""
    return th.Property(
        "window_hours",
        th.IntegerType(minimum=1, maximum=24 * 366),
        default=24,
        title=f"{label} window hours",
        description=f"Width of each {parameters} window requested.",
    )


def page_size_setting(label: str, parameter: str, maximum: int) -> th.Property[int]:
    """``page_size``: records per request, at most the vendor's documented maximum."""
    return th.Property(
        "page_size",
        th.IntegerType(minimum=1, maximum=maximum),
        default=maximum,
        title=f"{label} page size",
        description=f"'{parameter}' per request (at most {maximum}).",
    )
