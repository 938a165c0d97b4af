"""Settings every vendor section declares alike: base URL, window, page size, sampling, rate."""

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


def discovery_sampling_setting(label: str, *, documented: bool) -> th.Property[bool]:
    """``discovery_sampling``: ``--discover`` reads one page and declares the fields it saw.

    On by default only for a vendor that documents no fields (``documented=False``).
    """
    return th.Property(
        "discovery_sampling",
        th.BooleanType,
        default=not documented,
        title=f"{label} discovery sampling",
        description="--discover reads one small page per stream and adds the fields it sees "
        "to the catalog; unreachable or refused: the declared schema, with a warning.",
    )


def requests_per_second_setting(label: str) -> th.Property[int]:
    """``requests_per_second``: the source's request rate, shared by all its threads."""
    return th.Property(
        "requests_per_second",
        th.IntegerType(minimum=1),
        title=f"{label} requests per second",
        description=f"At most this many requests to {label} start per second, across all "
        "threads and streams (retries included); a 429 pauses them all. Default: no limit.",
    )
