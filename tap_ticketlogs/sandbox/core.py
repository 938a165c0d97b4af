"""What every simulated vendor API shares: requests, responses, routes, faults."""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import json
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    """One HTTP request as a vendor handler sees it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes = b""
    path_params: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_raw(cls, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Request:
        parts = urlsplit(target)
        return cls(
            method=method,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={key.lower(): value for key, value in headers.items()},
            body=body,
        )

    def param(self, name: str) -> str | None:
        """First value of a query parameter, or None."""
        values = self.query.get(name)
        return values[0] if values else None

    def params(self, name: str) -> list[str]:
        """Every value of a repeated query parameter."""
        return [value for value in self.query.get(name, []) if value != ""]

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:  # noqa: ANN401 - any JSON value
        return json.loads(self.body or b"null")


@dataclass
class Response:
    """One HTTP response a handler returns."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    #: Send only this many bytes of the body, then reset the connection (a fault).
    reset_after: int | None = None

    @classmethod
    def json(cls, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:  # noqa: ANN401
        return cls(
            status,
            json.dumps(payload).encode(),
            {"Content-Type": "application/json", **(headers or {})},
        )

    @classmethod
    def empty(cls, status: int, headers: Mapping[str, str] | None = None) -> Response:
        return cls(status, b"", dict(headers or {}))


Handler = Callable[[Request], Response]


@dataclass(frozen=True)
class Route:
    """A method and a path pattern (``{name}`` captures one path segment)."""

    method: str
    pattern: str
    handler: Handler
    label: str

    def match(self, request: Request) -> dict[str, str] | None:
        if request.method != self.method:
            return None
        regex = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.pattern) + "$"
        found = re.match(regex, request.path)
        return found.groupdict() if found else None


#: ``documented``: records carry the fields the vendor documents (the default).
#: ``extended``: every API also sends fields of its own spelling that the tap's schemas do not
#: declare, as a newer API version would, and from the middle of its data on one more field.
FIELD_STYLES = ("documented", "extended")

#: How a simulator with child partitions (tickets, cases) spreads its log entries over them.
#: ``standard``: as it always has (the default, what the tests' data and digests are made
#: of). ``even``: the same number for every partition. ``skewed``: heavy-tailed, as real
#: ticket logs are: most partitions a handful of entries (one page), a few many times the
#: mean (a long chain of pages). Seeded: one seed, one set of lengths.
PARTITION_LENGTHS = ("standard", "even", "skewed")
#: With ``even`` and ``skewed``, a simulator makes one partition per this many of the
#: vendor's largest pages of entries: even partitions are then two pages long, skewed ones
#: mostly one page and a few a dozen.
SHAPED_PAGES_PER_PARTITION = 1.2
#: The Pareto shape of ``skewed`` weights (P(weight > x) = x ** -1.2, from 1 up): half the
#: partitions within 1.8 times the smallest, one in 16 above 10 times, one in 85 at the
#: cap, SKEW_CAP times: a few partitions many pages long, none most of the data.
SKEW_ALPHA = 1.2
SKEW_CAP = 40.0


class PartitionPicker:
    """Which partition each next log entry goes to, for the ``even`` and ``skewed`` shapes.

    Partitions are numbered in the order they were added; each keeps its weight for the
    simulator's life, so a later ``append`` follows the same shape.
    """

    def __init__(self, shape: str, seed: str) -> None:
        if shape not in PARTITION_LENGTHS[1:]:
            msg = f"no picker for partition lengths {shape!r}; choose even or skewed"
            raise ValueError(msg)
        self.shape = shape
        # A generator of its own: the simulator's other draws stay those of its seed.
        self._random = random.Random(f"{seed}-partition-lengths")
        self._weights: list[float] = []
        self._turn = 0

    def add_partitions(self, count: int) -> None:
        skewed = self.shape == "skewed"
        for _ in range(count):
            weight = min(SKEW_CAP, self._random.paretovariate(SKEW_ALPHA)) if skewed else 1.0
            self._weights.append(weight)

    def picks(self, count: int, among: list[int]) -> list[int]:
        """``count`` partition numbers out of ``among``: round robin (even) or by weight."""
        if self.shape == "even":
            first, self._turn = self._turn, self._turn + count
            return [among[turn % len(among)] for turn in range(first, first + count)]
        cumulative = list(itertools.accumulate(self._weights[index] for index in among))
        total = cumulative[-1]
        return [
            among[bisect.bisect(cumulative, self._random.random() * total, hi=len(among) - 1)]
            for _ in range(count)
        ]


class VendorAPI:
    """A simulated vendor: its routes, its records and the tap config that reaches it.

    ``start``/``until`` bound the times of the records it holds; ``append`` moves ``until``.
    """

    name: str
    start: dt.datetime
    until: dt.datetime
    #: See FIELD_STYLES; the extended fields are derived from each record when it is served,
    #: so the documented style's data is the same whatever the style.
    field_style: str = "documented"
    #: Extended style: records at or after this instant carry the field that "appears".
    new_field_from: dt.datetime | None = None
    #: When not None, every record served, by tap stream, as sent (the tests' ground truth).
    served: dict[str, list[dict[str, Any]]] | None = None

    def set_field_style(self, style: str) -> None:
        if style not in FIELD_STYLES:
            msg = f"unknown field style {style!r}; choose one of {', '.join(FIELD_STYLES)}"
            raise ValueError(msg)
        self.field_style = style
        self.new_field_from = self.start + (self.until - self.start) / 2

    @property
    def extended(self) -> bool:
        return self.field_style == "extended"

    def field_appeared(self, when: dt.datetime) -> bool:
        """Extended style: whether a record of this instant carries the field that appears."""
        return self.new_field_from is not None and when >= self.new_field_from

    def note_served(self, stream: str, rows: list[dict[str, Any]]) -> None:
        if self.served is not None:
            self.served.setdefault(stream, []).extend(json.loads(json.dumps(rows)))

    def routes(self) -> list[Route]:
        raise NotImplementedError

    def record_counts(self) -> dict[str, int]:
        """Records held, by the tap stream they correspond to."""
        raise NotImplementedError

    def config_section(self, base_url: str) -> dict[str, Any]:
        """A ready config section for the tap, pointing at ``base_url``."""
        raise NotImplementedError

    def append(self, count: int) -> dict[str, int]:
        """Add ``count`` newer records (for incremental tests); return the new counts."""
        raise NotImplementedError

    def expire_credentials_after(self, requests: int) -> None:
        """Make every credential issued from now on stop working after ``requests`` uses.

        Vendors without a renewable credential (a static API key) ignore it.
        """
