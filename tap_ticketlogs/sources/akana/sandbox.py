"""Simulated Akana API Platform: login, token renewal and app-version transaction logs.

Routes: ``POST /api/login``, ``POST /api/login/renewToken`` and
``GET /api/apps/versions/{AppVersionID}/txlogs``, with the vendor page's semantics:

- every txlogs request needs the ``AtmoAuthToken_{fedmemberid}`` cookie (401 without it, or
  when it has expired: 30 minutes after login or renewal); a CSRF header is optional on GET,
  but when sent it must match the session's token (401 otherwise, as the page says);
  renewToken is a POST and needs the CSRF header;
- ``count`` defaults to 100, over 1 000 is a 400; ``start`` is an offset; an empty result is
  ``204 No Content``; transactions come newest first;
- ``StartDate``/``EndDate`` are read in ``TimeZone`` (default GMT) when they carry no offset,
  and ``RequestDateTime`` is written with that zone's offset, as in the vendor's sample. The
  page does not say whether EndDate is inclusive; the sandbox includes it (the case a client
  must be careful with), and places some transactions exactly on whole hours;
- ``Duration`` (``2h``, ``1d``...) is honoured when EndDate is absent; without StartDate, the
  most recent ``Duration`` (default 2 h) before EndDate (default: the data's end) is returned;
- JSON unless ``Accept`` asks only for XML; the array is ``TransactionInfo`` on some pages and
  ``TransactionsInfo`` on others, since the vendor page uses both names.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from typing_extensions import override

from tap_ticketlogs.sandbox.core import Request, Response, Route, VendorAPI

STREAM = "akana_transaction_logs"
FED_MEMBER_ID = "acmepaymentscorp"
COOKIE = f"AtmoAuthToken_{FED_MEMBER_ID}"
CSRF_COOKIE = f"Csrf-Token_{FED_MEMBER_ID}"
CSRF_HEADER = f"X-Csrf-Token_{FED_MEMBER_ID}"
EMAIL = "monitor@acmepaymentscorp.example"
PASSWORD = "sandbox-password-1"  # noqa: S105 - the simulator's published test login
# A long-lived cookie the sandbox accepts as if copied from a browser session.
STATIC_TOKEN = "TokenID%3Dsandbox-static-0000%2CexpirationTime%3D4102444800000"  # noqa: S105
STATIC_CSRF = "TokenID%3Dsandbox-csrf-0000"
SESSION_SECONDS = 30 * 60
TXLOGS_PATH = "/api/apps/versions/{AppVersionID}/txlogs"
LOGIN_PATH = "/api/login"
RENEW_PATH = "/api/login/renewToken"
MAX_COUNT = 1_000
DEFAULT_COUNT = 100
ENVIRONMENTS = ("Production", "Sandbox")
DEFAULT_START = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
DEFAULT_DAYS = 30
# Share of transactions placed exactly on a whole hour: window bounds fall there.
ON_THE_HOUR = 0.03
# Transactions of the Sandbox environment, relative to the Production ones.
SANDBOX_SHARE = 0.25


@dataclass(frozen=True)
class ApiVersion:
    api_id: str
    api_name: str
    api_version_id: str
    api_version_name: str
    url: str
    methods: tuple[tuple[str, str], ...]  # (method name, HTTP verb)


@dataclass(frozen=True)
class AppVersion:
    app_id: str
    app_name: str
    app_version_id: str
    app_version_name: str
    contracts: dict[str, ApiVersion]  # ContractID -> API version

    @property
    def runtime_id(self) -> str:
        return self.app_version_id.split(".", 1)[0]


PAYMENTS = ApiVersion(
    "775a3d03-857f-48cb-bce6-a7cea40c6d3e.acmepaymentscorp",
    "ACME Payments API",
    "7080623c-57fd-433f-a127-b0c2fe3889d7.acmepaymentscorp",
    "4/16/14",
    "http://api.acmepaymentscorp.com/payments/",
    (("GetPayment", "GET"), ("CreatePayment", "POST"), ("RefundPayment", "POST")),
)
TICKETS = ApiVersion(
    "1b1f2f0e-5c1e-4d54-9a57-3f0f6a1c2d11.acmepaymentscorp",
    "ACME Ticketing API",
    "9c4e6a2b-2d7f-4f0e-8b1a-6e5d4c3b2a10.acmepaymentscorp",
    "2.3",
    "http://api.acmepaymentscorp.com/tickets/",
    (("GetTicket", "GET"), ("ScanTicket", "POST"), ("ListTickets", "GET")),
)
APP_VERSIONS = {
    app.app_version_id: app
    for app in (
        AppVersion(
            "411d0425-e83a-4110-9e03-34c758eebce0.acmepaymentscorp",
            "Crosfhocal",
            "7FuucUjB7B3AYcUVvQpEVv1B.acmepaymentscorp",
            "1",
            {"contract-crosfhocal-payments": PAYMENTS, "contract-crosfhocal-tickets": TICKETS},
        ),
        AppVersion(
            "52c6e1f4-0a8b-4a3c-9d7e-1f2e3d4c5b6a.acmepaymentscorp",
            "Box Office Kiosk",
            "Kx93hTq2LmP0aRzY7wVbN4sE.acmepaymentscorp",
            "3.1",
            {"contract-kiosk-tickets": TICKETS},
        ),
        AppVersion(
            "0e9d8c7b-6a5f-4e3d-2c1b-0a9f8e7d6c5b.acmepaymentscorp",
            "Season Pass Mobile",
            "Qw7Er5Ty3Ui1Op9As8Df6Gh4.acmepaymentscorp",
            "12",
            {"contract-season-payments": PAYMENTS},
        ),
    )
}
STATUS_WEIGHTS = {200: 80, 201: 6, 400: 4, 401: 2, 404: 4, 500: 2, 503: 2}
_DURATION = re.compile(r"^(\d+)([smhdwM])$")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "M": 30 * 86400}


@dataclass(frozen=True)
class Transaction:
    when: dt.datetime  # UTC
    environment: str
    contract_id: str
    fields: dict[str, Any]  # as the API returns it, RequestDateTime set per request


class AkanaAPI(VendorAPI):
    """Transactions of three app versions, their contracts, in both environments."""

    name = "akana"

    def __init__(self, *, seed: int, records: int, start: dt.datetime = DEFAULT_START) -> None:
        self._random = random.Random(f"akana-{seed}")
        self._seed = seed
        self.start = start
        self.until = start + dt.timedelta(days=DEFAULT_DAYS)
        self._lock = threading.Lock()
        # token -> (monotonic expiry or None for never, CSRF token)
        self._sessions: dict[str, tuple[float | None, str]] = {STATIC_TOKEN: (None, STATIC_CSRF)}
        self.transactions: dict[str, list[Transaction]] = {app: [] for app in APP_VERSIONS}
        # Test knobs: behaviours a real platform shows that tests need on demand.
        self.fail_status: dict[str, int] = {}  # app version -> status served on txlogs
        self.reject_all_sessions = False  # every txlogs request is a 401 (lost permission)
        self.ignore_accept = False  # answer XML even to Accept: application/json
        self.html_body = False  # a 200 whose body is an HTML page
        # Expire every login session when this many txlogs requests have arrived (once).
        self.expire_sessions_after: int | None = None
        # Every session obtained by login stops working after this many txlogs requests.
        self.session_max_uses: int | None = None
        self._uses_left: dict[str, int] = {}
        self.queries: list[dict[str, list[str]]] = []  # txlogs queries, in arrival order
        self._generate(records, self.start, self.until)

    # -- data -------------------------------------------------------------------------------

    def _generate(self, count: int, start: dt.datetime, end: dt.datetime) -> None:
        """``count`` Production transactions (and a share of Sandbox ones) in ``[start, end)``."""
        sandbox_count = round(count * SANDBOX_SHARE)
        for environment, number in (("Production", count), ("Sandbox", sandbox_count)):
            for _ in range(number):
                self._add(environment, start, end)
        for items in self.transactions.values():
            items.sort(key=lambda tx: (tx.when, tx.fields["TransactionID"]))

    def _add(self, environment: str, start: dt.datetime, end: dt.datetime) -> None:
        rng = self._random
        app = rng.choice(list(APP_VERSIONS.values()))
        contract_id = rng.choice(sorted(app.contracts))
        api = app.contracts[contract_id]
        span = int((end - start).total_seconds())
        when = start + dt.timedelta(seconds=rng.randrange(span))
        if rng.random() < ON_THE_HOUR:
            when = when.replace(minute=0, second=0)
            if when < start:
                when += dt.timedelta(hours=1)
            if when >= end:
                when = start
        method, verb = rng.choice(api.methods)
        status = rng.choices(list(STATUS_WEIGHTS), weights=list(STATUS_WEIGHTS.values()))[0]
        response_ms = rng.randint(40, 900) if status < 500 else rng.randint(5_000, 61_000)
        api_ms = max(0, response_ms - rng.randint(5, 40)) if rng.random() < 0.7 else 0
        transaction_id = str(uuid.UUID(int=rng.getrandbits(128), version=1))
        fields = {
            "TransactionID": transaction_id,
            "APIID": api.api_id,
            "APIName": api.api_name,
            "APIVersionID": api.api_version_id,
            "MethodName": method,
            "AppID": app.app_id,
            "AppName": app.app_name,
            "AppVersionID": app.app_version_id,
            "RequestDateTime": None,
            "ResponseStatusCode": status,
            "ClientHost": f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}"
            f".{rng.randint(1, 254)}",
            "APIVersionName": api.api_version_name,
            "MethodKey": transaction_id,
            "AppVersionName": app.app_version_name,
            "AppRuntimeID": app.runtime_id,
            "ResponseTime": iso_duration(response_ms),
            "RequestMessageSize": 0 if verb == "GET" else rng.randint(120, 4_000),
            "ResponseMessageSize": rng.randint(200, 60_000),
            "APIResponseTime": iso_duration(api_ms),
            "APIURL": api.url,
            "HttpVerb": verb,
        }
        self.transactions[app.app_version_id].append(
            Transaction(when, environment, contract_id, fields)
        )

    def matching(
        self,
        app_version_id: str,
        start: dt.datetime,
        end: dt.datetime,
        *,
        environment: str = "Production",
        contract_id: str | None = None,
        end_inclusive: bool = False,
    ) -> list[Transaction]:
        """Transactions of an app version in ``[start, end)`` (``[start, end]`` if asked)."""
        return [
            tx
            for tx in self.transactions.get(app_version_id, [])
            if start <= tx.when
            and (tx.when <= end if end_inclusive else tx.when < end)
            and tx.environment == environment
            and (contract_id is None or tx.contract_id == contract_id)
        ]

    # -- VendorAPI --------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        return [
            Route("POST", LOGIN_PATH, self.login, f"POST {LOGIN_PATH}"),
            Route("POST", RENEW_PATH, self.renew_token, f"POST {RENEW_PATH}"),
            Route("GET", TXLOGS_PATH, self.txlogs, f"GET {TXLOGS_PATH}"),
        ]

    def record_counts(self) -> dict[str, int]:
        """Production transactions: what the ready config section extracts."""
        return {
            STREAM: sum(
                tx.environment == "Production"
                for items in self.transactions.values()
                for tx in items
            )
        }

    def config_section(self, base_url: str) -> dict[str, Any]:
        return {
            "base_url": base_url,
            "fed_member_id": FED_MEMBER_ID,
            "email": EMAIL,
            "password": PASSWORD,
            "app_version_ids": list(APP_VERSIONS),
            "environment": "Production",
        }

    def append(self, count: int) -> dict[str, int]:
        start, self.until = self.until, self.until + dt.timedelta(days=1)
        self._generate(count, start, self.until)
        return self.record_counts()

    @override
    def expire_credentials_after(self, requests: int) -> None:
        self.session_max_uses = requests

    def issued_tokens(self) -> list[str]:
        """Every cookie and CSRF value this sandbox has handed out (for redaction tests)."""
        with self._lock:
            return [value for token, (_, csrf) in self._sessions.items() for value in (token, csrf)]

    def expire_sessions(self) -> None:
        """Let every session obtained by login expire now (the static cookie stays valid)."""
        with self._lock:
            for token, (expiry, csrf) in list(self._sessions.items()):
                if expiry is not None:
                    self._sessions[token] = (time.monotonic() - 1, csrf)

    # -- handlers ---------------------------------------------------------------------------

    def login(self, request: Request) -> Response:
        try:
            body = request.json()
        except ValueError:
            return _error(400, "body is not JSON")
        if not isinstance(body, dict) or not body.get("email") or not body.get("password"):
            return _error(400, "email and password are required")
        if body["email"] != EMAIL or body["password"] != PASSWORD:
            return _error(401, "invalid email or password")
        token, csrf = self._new_session()
        return Response.json(
            200, {"userName": EMAIL, "fedmemberId": FED_MEMBER_ID}, _cookies(token, csrf)
        )

    def renew_token(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return _error(401, "missing or expired session cookie")
        token, csrf = session
        if request.header(CSRF_HEADER) != csrf:
            return _error(401, f"missing or invalid {CSRF_HEADER} header")
        with self._lock:
            self._sessions.pop(token, None)
        new_token, new_csrf = self._new_session()
        return Response.json(200, {"renewed": True}, _cookies(new_token, new_csrf))

    def txlogs(self, request: Request) -> Response:
        with self._lock:
            self.queries.append(dict(request.query))
            expire_now = len(self.queries) == self.expire_sessions_after
        if expire_now:
            self.expire_sessions()
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        app_version_id = request.path_params["AppVersionID"]
        try:
            selection = self._selection(request, APP_VERSIONS[app_version_id])
        except ValueError as exc:
            return _error(400, str(exc))
        zone, start, end, environment, contract_id, offset, count = selection
        found = self.matching(
            app_version_id,
            start,
            end,
            environment=environment,
            contract_id=contract_id,
            end_inclusive=True,
        )
        found.reverse()  # most recent first, as the vendor page describes
        page = found[offset : offset + count]
        if not page:
            return Response.empty(204)
        rows = [{**tx.fields, "RequestDateTime": _local_time(tx.when, zone)} for tx in page]
        if self.extended:
            rows = [
                {**row, **self._extended_fields(tx, zone)}
                for row, tx in zip(rows, page, strict=True)
            ]
        if self.html_body:
            html = b"<html><body>Please log in</body></html>"
            return Response(200, html, {"Content-Type": "text/html"})
        key = "TransactionInfo" if (offset // count + self._seed) % 2 == 0 else "TransactionsInfo"
        if self.ignore_accept or not _accepts_json(request.header("Accept")):
            return Response(200, _xml(key, rows), {"Content-Type": "text/xml"})
        self.note_served(STREAM, rows)
        return Response.json(200, {key: rows})

    def _extended_fields(self, tx: Transaction, zone: dt.tzinfo) -> dict[str, Any]:
        """What a newer platform adds: the contract, the listener, the response's time
        (wall time in the requested zone, no offset); from the middle of the data on,
        whether the gateway's cache answered."""
        responded = tx.when + dt.timedelta(milliseconds=tx.fields["ResponseMessageSize"] % 900)
        extra: dict[str, Any] = {
            "ContractID": tx.contract_id,
            "ListenerName": "default-https" if tx.fields["HttpVerb"] == "GET" else "secure-post",
            "ResponseDateTime": responded.astimezone(zone)
            .replace(tzinfo=None)
            .isoformat(timespec="milliseconds"),
        }
        if self.field_appeared(tx.when):
            extra["CacheHit"] = tx.fields["ResponseMessageSize"] % 3 == 0
        return extra

    def _refusal(self, request: Request) -> Response | None:
        """The error a txlogs request gets before its parameters are read, if any."""
        session = self._session(request)
        if session is None or self.reject_all_sessions:
            return _error(401, "missing or expired session cookie")
        with self._lock:
            uses_left = self._uses_left.get(session[0])
            if uses_left is not None:
                self._uses_left[session[0]] = uses_left - 1
        if uses_left is not None and uses_left <= 0:
            return _error(401, "missing or expired session cookie")
        csrf = request.header(CSRF_HEADER)
        if csrf is not None and csrf != session[1]:
            return _error(401, f"invalid {CSRF_HEADER} header")
        app_version_id = request.path_params["AppVersionID"]
        if app_version_id not in APP_VERSIONS:
            return _error(404, f"app version {app_version_id} not found")
        if app_version_id in self.fail_status:
            return _error(self.fail_status[app_version_id], "an error occurred processing the call")
        return None

    # -- helpers ----------------------------------------------------------------------------

    def _new_session(self) -> tuple[str, str]:
        with self._lock:
            serial = len(self._sessions)
        token = f"TokenID%3D{uuid.uuid4()}%2CissueTime%3D{serial}%2CexpirationTime%3D1800000"
        csrf = f"TokenID%3D{uuid.uuid4()}"
        with self._lock:
            self._sessions[token] = (time.monotonic() + SESSION_SECONDS, csrf)
            if self.session_max_uses is not None:
                self._uses_left[token] = self.session_max_uses
        return token, csrf

    def _session(self, request: Request) -> tuple[str, str] | None:
        token = _cookie(request.header("Cookie"), COOKIE)
        if token is None:
            return None
        with self._lock:
            found = self._sessions.get(token)
        if found is None:
            return None
        expiry, csrf = found
        if expiry is not None and time.monotonic() >= expiry:
            return None
        return token, csrf

    def _selection(
        self, request: Request, app: AppVersion
    ) -> tuple[dt.tzinfo, dt.datetime, dt.datetime, str, str | None, int, int]:
        zone_name = request.param("TimeZone") or "GMT"
        try:
            zone: dt.tzinfo = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            msg = f"unknown TimeZone {zone_name}"
            raise ValueError(msg) from None
        environment = request.param("Environment") or "Production"
        if environment not in ENVIRONMENTS:
            msg = f"Environment must be one of {', '.join(ENVIRONMENTS)}"
            raise ValueError(msg)
        contract_id = request.param("ContractID") or None
        if contract_id is not None and contract_id not in app.contracts:
            msg = f"contract {contract_id} is not a contract of app version {app.app_version_id}"
            raise ValueError(msg)
        count = _integer(request.param("count"), "count", DEFAULT_COUNT)
        offset = _integer(request.param("start"), "start", 0)
        if not 1 <= count <= MAX_COUNT:
            msg = f"count must be between 1 and {MAX_COUNT}"
            raise ValueError(msg)
        if offset < 0:
            msg = "start must not be negative"
            raise ValueError(msg)
        duration = _duration(request.param("Duration"))
        start_text, end_text = request.param("StartDate"), request.param("EndDate")
        end = _parse_date(end_text, zone, "EndDate") if end_text else None
        if start_text:
            start = _parse_date(start_text, zone, "StartDate")
            if end is None:
                end = start + duration if duration else self.until
        else:
            end = end or self.until
            start = end - (duration or dt.timedelta(hours=2))
        if end < start:
            msg = "EndDate is before StartDate"
            raise ValueError(msg)
        return zone, start, end, environment, contract_id, offset, count


def iso_duration(milliseconds: int) -> str:
    """``P0Y0M0DT0H0M0.121S``, as the platform writes durations."""
    hours, rest = divmod(milliseconds, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"P0Y0M0DT{hours}H{minutes}M{rest // 1000}.{rest % 1000:03d}S"


def _local_time(when: dt.datetime, zone: dt.tzinfo) -> str:
    """``2014-04-16T16:27:55-04:00``: the requested zone's offset, never ``Z``."""
    return when.astimezone(zone).isoformat(timespec="seconds")


def _parse_date(value: str, zone: dt.tzinfo, name: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        msg = f"{name} is not a date-time: {value}"
        raise ValueError(msg) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(dt.timezone.utc)


def _duration(value: str | None) -> dt.timedelta | None:
    if not value:
        return None
    found = _DURATION.match(value)
    if not found:
        msg = f"Duration is not valid: {value}"
        raise ValueError(msg)
    return dt.timedelta(seconds=int(found.group(1)) * _DURATION_UNITS[found.group(2)])


def _integer(value: str | None, name: str, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        msg = f"{name} must be an integer"
        raise ValueError(msg) from None


def _cookie(header: str | None, name: str) -> str | None:
    for pair in (header or "").split(";"):
        key, sep, value = pair.strip().partition("=")
        if sep and key == name:
            return value
    return None


def _cookies(token: str, csrf: str) -> dict[str, str]:
    # Response headers hold one value per name. HTTP header names are case-insensitive, so a
    # second spelling carries the second Set-Cookie header.
    return {
        "Set-Cookie": f"{COOKIE}={token}; Path=/; HttpOnly",
        "set-cookie": f"{CSRF_COOKIE}={csrf}; Path=/",
    }


def _accepts_json(accept: str | None) -> bool:
    if not accept:
        return True
    return any(kind in accept for kind in ("json", "*/*", "application/*"))


def _xml(key: str, rows: list[dict[str, Any]]) -> bytes:
    items = "".join(
        "<Transaction>"
        + "".join(f"<{name}>{escape(str(value))}</{name}>" for name, value in row.items())
        + "</Transaction>"
        for row in rows
    )
    return f'<?xml version="1.0" encoding="UTF-8"?><{key}>{items}</{key}>'.encode()


def _error(status: int, message: str) -> Response:
    return Response.json(status, {"code": status, "message": message})


def create_api(seed: int, records: int) -> AkanaAPI:
    """The sandbox's entry point for this vendor."""
    return AkanaAPI(seed=seed, records=records)
