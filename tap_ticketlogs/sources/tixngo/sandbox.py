"""Simulated TIXNGO reporting API: ``GET /organizer/report/ticket-status-logs``."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import random
from typing import Any

from tap_ticketlogs.sandbox.core import Request, Response, Route, VendorAPI

API_KEY = "tixngo-sandbox-key"
EMAIL = "reporting@organizer.example"
STREAM = "tixngo_ticket_status_logs"
PATH = "/organizer/report/ticket-status-logs"
MAX_LIMIT = 10_000
DEFAULT_LIMIT = 1_000
MOBILE_APPS = {
    # app id: the UTC offset its entries are written in (the API speaks local time).
    "app-worldcup-2026": dt.timezone(dt.timedelta(hours=1)),
    "app-jazz-festival": dt.timezone(dt.timedelta(hours=-5)),
    "app-grand-slam": dt.timezone.utc,
}
# action: (from status, to status, actor)
ACTIONS = {
    "Download": ("NOT_DOWNLOADED", "DOWNLOADED", "MOBILE_APP"),
    "Activate": ("DOWNLOADED", "ACTIVATED", "MOBILE_APP"),
    "Transfer": ("ACTIVATED", "TRANSFER_PENDING", "MOBILE_APP"),
    "Accept transfer": ("TRANSFER_PENDING", "DOWNLOADED", "MOBILE_APP"),
    "Cancel transfer": ("TRANSFER_PENDING", "ACTIVATED", "MOBILE_APP"),
    "Scan": ("ACTIVATED", "SCANNED", "ACCESS_CONTROL"),
    "Log off": ("ACTIVATED", "NOT_DOWNLOADED", "MOBILE_APP"),
    "Revoke": ("ACTIVATED", "REVOKED", "BACK_OFFICE"),
}
ACTION_WEIGHTS = (30, 25, 10, 7, 3, 15, 6, 4)
DEFAULT_START = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
DEFAULT_DAYS = 30
# How an organizer's key is sent, as the tap's ``auth_scheme`` names it. A real account
# accepts its key one way only, so the sandbox is told which and accepts nothing else.
AUTH_SCHEMES = ("bearer", "header", "basic")


class TixngoAPI(VendorAPI):
    """Ticket status log entries of three mobile apps, spread over a month."""

    name = "tixngo"

    def __init__(
        self,
        *,
        seed: int,
        records: int,
        start: dt.datetime = DEFAULT_START,
        undocumented_fields: bool = False,
        auth_scheme: str = "bearer",
        auth_header: str = "Authorization",
        extra_apps: int = 0,
        time_field: str = "actionDate",
    ) -> None:
        if auth_scheme not in AUTH_SCHEMES:
            msg = f"unknown auth scheme {auth_scheme!r}; choose one of {', '.join(AUTH_SCHEMES)}"
            raise ValueError(msg)
        self.auth_scheme = auth_scheme
        self.auth_header = auth_header
        # undocumented_fields: entries carry fields the tap's schema does not know, as an API
        # that grows new fields would send them.
        self._undocumented_fields = undocumented_fields
        # time_field: the name the entries carry their time under. The vendor page lists no
        # entry fields, so another account's API may well call it otherwise.
        self.time_field = time_field
        # extra_apps: more mobile apps (in UTC) beyond the three, e.g. for a benchmark.
        self.apps: dict[str, dt.tzinfo] = {
            **MOBILE_APPS,
            **{f"app-extra-{index:03d}": dt.timezone.utc for index in range(extra_apps)},
        }
        self._random = random.Random(f"tixngo-{seed}")
        self._seed = seed
        self.start = start
        self.until = start + dt.timedelta(days=DEFAULT_DAYS)
        self._serial = 0
        # app id -> entries sorted by time: (utc time, entry as the API returns it)
        self.entries: dict[str, list[tuple[dt.datetime, dict[str, Any]]]] = {
            app: [] for app in self.apps
        }
        self._generate(records, self.start, self.until)

    def _generate(self, count: int, start: dt.datetime, end: dt.datetime) -> None:
        span = (end - start).total_seconds()
        apps = list(self.apps)
        for _ in range(count):
            self._serial += 1
            app = apps[self._serial % len(apps)]
            when = start + dt.timedelta(seconds=self._random.uniform(0, span))
            when = when.replace(microsecond=when.microsecond // 1000 * 1000)
            action = self._random.choices(list(ACTIONS), weights=ACTION_WEIGHTS)[0]
            from_status, to_status, actor = ACTIONS[action]
            owner = f"user-{self._random.randrange(1, 400):04d}"
            new_owner = (
                f"user-{self._random.randrange(1, 400):04d}"
                if action == "Accept transfer"
                else owner
            )
            entry: dict[str, Any] = {
                "ticketId": f"TKT-{self._serial:08d}",
                "eventId": f"EVT-{self._random.randrange(1, 12):03d}",
                "actionName": action,
                "fromStatus": from_status,
                "toStatus": to_status,
                "fromOwnerId": owner,
                "toOwnerId": new_owner,
                "actor": actor,
                "actionDate": when.astimezone(self.apps[app]).isoformat(timespec="milliseconds"),
                "deviceOs": self._random.choice(("ios", "android", None)),
            }
            if self._undocumented_fields:
                entry["seatSection"] = {"block": self._random.choice("ABCDEF"), "row": 12}
            self.entries[app].append((when, entry))
        for app_entries in self.entries.values():
            app_entries.sort(key=lambda pair: (pair[0], pair[1]["ticketId"]))

    def routes(self) -> list[Route]:
        return [Route("GET", PATH, self.ticket_status_logs, f"GET {PATH}")]

    def record_counts(self) -> dict[str, int]:
        return {STREAM: sum(len(entries) for entries in self.entries.values())}

    def config_section(self, base_url: str) -> dict[str, Any]:
        section: dict[str, Any] = {
            "base_url": base_url,
            "api_key": API_KEY,
            "auth_scheme": self.auth_scheme,
            "mobile_app_ids": list(self.apps),
        }
        if self.auth_scheme == "header":
            section["auth_header"] = self.auth_header
        if self.auth_scheme == "basic":
            section["email"] = EMAIL
        return section

    def append(self, count: int) -> dict[str, int]:
        start, self.until = self.until, self.until + dt.timedelta(days=1)
        self._generate(count, start, self.until)
        return self.record_counts()

    def matching(
        self, app: str, start: dt.datetime, end: dt.datetime, request: Request | None = None
    ) -> list[dict[str, Any]]:
        """Entries of ``app`` with ``start <= time < end`` that pass the request's filters."""
        return [
            entry
            for when, entry in self.entries.get(app, [])
            if start <= when < end and (request is None or _passes_filters(entry, request))
        ]

    def _authorised(self, request: Request) -> bool:
        """The key, sent exactly the way this account expects it (nothing else counts)."""
        if self.auth_scheme == "header":
            return request.header(self.auth_header) == API_KEY
        if self.auth_scheme == "basic":
            basic = base64.b64encode(f"{EMAIL}:{API_KEY}".encode()).decode()
            return request.header("Authorization") == f"Basic {basic}"
        return request.header("Authorization") == f"Bearer {API_KEY}"

    def _extended_entry(self, app: str, entry: dict[str, Any]) -> dict[str, Any]:
        """The entry as a newer API version spells it: its own id, the log's time (local
        offset), the app; from the middle of the data on, a resale price (first whole, then
        with cents: a loader must not have made an integer column)."""
        serial = int(entry["ticketId"].removeprefix("TKT-"))
        when = dt.datetime.fromisoformat(entry["actionDate"])
        extended = {
            "id": f"LOG-{serial:08d}",
            **entry,
            "logDate": (when + dt.timedelta(seconds=2)).isoformat(timespec="milliseconds"),
            "mobileAppId": app,
        }
        if self.field_appeared(when) and self.new_field_from is not None:
            whole = when < self.new_field_from + dt.timedelta(days=1)
            extended["resalePrice"] = 40 + serial % 7 if whole else 40 + serial % 7 + 0.25
        return extended

    def ticket_status_logs(self, request: Request) -> Response:
        if not self._authorised(request):
            return Response.json(401, {"message": "invalid or missing API key"})
        app = request.param("mobileAppId")
        if not app:
            return _bad_request("mobileAppId is required")
        try:
            start = _parse_time(request.param("from"), "from")
            end = _parse_time(request.param("to"), "to")
            limit = int(request.param("limit") or DEFAULT_LIMIT)
            offset = _decode_key(request.param("paginationKey"))
        except ValueError as exc:
            return _bad_request(str(exc))
        if not 1 <= limit <= MAX_LIMIT:
            return _bad_request(f"limit must be between 1 and {MAX_LIMIT}")
        if app not in self.apps:
            return Response.json(404, {"message": f"mobile app {app} not found"})
        entries = self.matching(app, start, end, request)
        page = entries[offset : offset + limit]
        if self.extended:
            page = [self._extended_entry(app, entry) for entry in page]
        if self.time_field != "actionDate":
            page = [_time_named(entry, self.time_field) for entry in page]
        self.note_served(STREAM, page)
        pagination: dict[str, Any] = {"limit": limit}
        if offset + limit < len(entries):
            pagination["nextPageKey"] = _encode_key(offset + limit)
        else:
            # The vendor's last page may omit the key, or send it as null or "".
            style = (offset // limit + self._seed) % 3
            if style == 1:
                pagination["nextPageKey"] = None
            elif style == 2:
                pagination["nextPageKey"] = ""
        return Response.json(200, {"pagination": pagination, "result": page})


def _time_named(entry: dict[str, Any], name: str) -> dict[str, Any]:
    """``entry`` with its time under ``name`` (its place in the entry kept)."""
    return {name if field == "actionDate" else field: value for field, value in entry.items()}


def _passes_filters(entry: dict[str, Any], request: Request) -> bool:
    checks = (
        ("actionNames", "actionName"),
        ("fromStatuses", "fromStatus"),
        ("toStatuses", "toStatus"),
        ("fromOwnerId", "fromOwnerId"),
        ("toOwnerId", "toOwnerId"),
        ("actor", "actor"),
    )
    for param, field in checks:
        wanted = request.params(param)
        if wanted and entry[field] not in wanted:
            return False
    return True


def _parse_time(value: str | None, name: str) -> dt.datetime:
    if not value:
        msg = f"{name} is required"
        raise ValueError(msg)
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        msg = f"{name} is not an ISO-8601 date-time: {value}"
        raise ValueError(msg) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed


def _encode_key(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode()


def _decode_key(key: str | None) -> int:
    if not key:
        return 0
    try:
        return int(json.loads(base64.urlsafe_b64decode(key.encode()))["o"])
    except (binascii.Error, ValueError, KeyError, TypeError):
        msg = "paginationKey is not valid"
        raise ValueError(msg) from None


def _bad_request(message: str) -> Response:
    return Response.json(400, {"message": message})


def create_api(seed: int, records: int) -> TixngoAPI:
    """The sandbox's entry point for this vendor."""
    return TixngoAPI(seed=seed, records=records)
