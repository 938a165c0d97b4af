"""Simulated Socialboards Ticket API v2: token, ``POST /tickets/list``, ``POST /tickets/{id}/log``.

Strict where the vendor is: the envelope ``{"data", "errorCode", "errorText"}`` on every
answer, ``take`` over 50 rejected, unknown tickets 404, expiring access tokens (by time,
and optionally after a number of uses, so a test can make one expire mid-run), refused
refresh tokens. Ticket logs come newest first; times are .NET ``DateTimeOffset`` strings
with 7 fractional digits and the offset of the agent who acted.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from typing_extensions import override

from tap_ticketlogs.sandbox.core import (
    PARTITION_LENGTHS,
    SHAPED_PAGES_PER_PARTITION,
    PartitionPicker,
    Request,
    Response,
    Route,
    VendorAPI,
)

CLIENT_ID = "socialboards-sandbox-client"
REFRESH_TOKEN = "sb-sandbox-refresh-0f9c2e7a41"  # noqa: S105 - the sandbox's public credential
STATIC_ACCESS_TOKEN = "sb-sandbox-static-access-5d81"  # noqa: S105 - idem
TICKETS_STREAM = "socialboards_tickets"
LOGS_STREAM = "socialboards_ticket_logs"
TOKEN_PATH = "/token"  # noqa: S105 - a URL path
LIST_PATH = "/tickets/list"
LOG_PATH = "/tickets/{ticketId}/log"
MAX_TAKE = 50
DEFAULT_TAKE = 25
TOKEN_LIFETIME_S = 3599
DEFAULT_START = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
DEFAULT_DAYS = 30
FIRST_TICKET_ID = 4_484_600
ORDER_BY = (
    "last_thread_activity_desc",
    "last_thread_activity_asc",
    "creation_time_desc",
    "creation_time_asc",
)
# Ticket action types seen in the vendor's samples plus the usual inbox actions. Thread
# actions (a message, a reply, a note) move a ticket's lastThreadElementCreationTime; the
# others (read, status, category, tags, assignee) only add a log entry.
THREAD_ACTIONS = {
    "ticket_created": "created the ticket",
    "reply_created": "replied",
    "note_created": "added a note",
}
LOG_ONLY_ACTIONS = {
    "ticket_read": "leste saken",
    "ticket_status_changed": 'endret sakens status fra "Åpen" til "På vent"',
    "ticket_category_changed": "changed the category",
    "ticket_tags_changed": "changed the tags",
    "ticket_assignee_changed": "assigned the ticket",
}
ACTION_TYPES = tuple(THREAD_ACTIONS) + tuple(LOG_ONLY_ACTIONS)
OFFSETS = (dt.timedelta(0), dt.timedelta(hours=1), dt.timedelta(hours=2), dt.timedelta(hours=3))
TEAM = (
    ("7ada8318-adf9-46d1-97ff-81aee80a8415", "Anton Checkhov"),
    ("1c0e2a55-3f4b-4d7e-9a61-2b8f0d9c7e11", "Ingrid Solberg"),
    ("9b7d4c21-0e8f-4a3b-8c5d-6e1f2a3b4c5d", "Lars Haugen"),
    ("44f1e0d2-7c6b-4a59-b8e7-d3c2b1a09f8e", "Maja Berg"),
)
STATUSES = ("open", "pending", "closed")
AUTHORS = ("Bill Smith", "Robert Baker", "Kari Nordmann", "Ola Hansen")
SOURCES = ("web", "email", "facebook", "messenger")


def dotnet_time(when: dt.datetime, offset: dt.timedelta, ticks: int) -> str:
    """``2022-10-28T12:41:36.6267804+02:00``: local time, 7 digits (ticks of 100 ns)."""
    local = when.astimezone(dt.timezone(offset))
    sign = "+" if offset >= dt.timedelta(0) else "-"
    minutes = int(abs(offset).total_seconds()) // 60
    return (
        f"{local.strftime('%Y-%m-%dT%H:%M:%S')}.{local.microsecond:06d}{ticks % 10}"
        f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
    )


@dataclass
class LogEntry:
    when: dt.datetime  # UTC, microseconds
    tick: int  # the 7th fractional digit
    entry: dict[str, Any]

    @property
    def order(self) -> tuple[dt.datetime, int]:
        return (self.when, self.tick)


@dataclass
class Ticket:
    id: int
    created: dt.datetime
    fields: dict[str, Any]
    entries: list[LogEntry] = field(default_factory=list)

    @property
    def last_thread_activity(self) -> tuple[dt.datetime, int]:
        thread = [e.order for e in self.entries if e.entry["actionType"] in THREAD_ACTIONS]
        return max(thread) if thread else (self.created, 0)

    def as_api(self) -> dict[str, Any]:
        when, tick = self.last_thread_activity
        offset = OFFSETS[self.id % len(OFFSETS)]
        return {**self.fields, "lastThreadElementCreationTime": dotnet_time(when, offset, tick)}


class SocialboardsAPI(VendorAPI):
    """Tickets of one inbox over a month, each with a log of actions."""

    name = "socialboards"

    def __init__(
        self,
        *,
        seed: int,
        records: int,
        start: dt.datetime = DEFAULT_START,
        partition_lengths: str = PARTITION_LENGTHS[0],
    ) -> None:
        self._random = random.Random(f"socialboards-{seed}")
        #: Which ticket each log entry goes to, unless the shape is the standard one.
        self._picker = (
            None
            if partition_lengths == PARTITION_LENGTHS[0]
            else PartitionPicker(partition_lengths, f"socialboards-{seed}")
        )
        self.start = start
        self.until = start + dt.timedelta(days=DEFAULT_DAYS)
        self.tickets: dict[int, Ticket] = {}
        self._lock = threading.Lock()
        # access token -> (issued at, uses left or None)
        self._tokens: dict[str, tuple[dt.datetime, int | None]] = {}
        self.refresh_tokens = {REFRESH_TOKEN}
        self.token_lifetime_s = TOKEN_LIFETIME_S
        #: Access tokens issued from now on are refused after this many API requests.
        self.token_max_uses: int | None = None
        self.tokens_issued = 0
        #: ticket id -> (errorCode, errorText) its log endpoint answers under HTTP 200.
        self.failing_logs: dict[int, tuple[int, str]] = {}
        #: Tickets still listed whose log answers 404 (deleted after the listing).
        self.vanished: set[int] = set()
        #: Called before each list request is answered (tests: activity during a listing).
        self.list_hook: Callable[[int], None] | None = None
        self.list_requests = 0
        per_ticket = 8 if self._picker is None else int(SHAPED_PAGES_PER_PARTITION * MAX_TAKE)
        self._generate_tickets(max(3, records // per_ticket), start, self.until)
        self._generate_entries(records, start, self.until, new_tickets=False)

    # -- data -----------------------------------------------------------------------------

    def _new_ticket(self, created: dt.datetime) -> Ticket:
        ticket_id = FIRST_TICKET_ID + len(self.tickets)
        offset = OFFSETS[ticket_id % len(OFFSETS)]
        tick = self._random.randrange(10)
        author_name = self._random.choice(AUTHORS)
        fields: dict[str, Any] = {
            "id": ticket_id,
            "title": self._random.choice(
                ("New car price list.", "Order not delivered", "Refund request", "Cannot log in")
            ),
            "message": "Hello, can you help me?",
            "htmlMessage": '<div class="sb-html-message">Hello, can you help me?</div>',
            "author": {
                "customIdentifier": None,
                "email": None,
                "image": None,
                "isBot": False,
                "id": f"{self._random.getrandbits(128):032x}",
                "name": author_name,
                "status": "client",
            },
            "category": self._random.choice(
                (None, {"id": 15721, "name": "Other cases", "parents": []})
            ),
            "creationTime": dotnet_time(created, offset, tick),
            "customFields": [],
            "lockedBy": None,
            "originalLink": None,
            "properties": {
                "isAnonymized": False,
                "isMuted": False,
                "hasAttachments": False,
                "isDeleted": False,
                "isSpam": False,
            },
            "replyCount": 0,
            "isMuted": False,
            "sentiment": self._random.choice(("question", "neutral", "negative")),
            "source": self._random.choice(SOURCES),
            "detailedSource": "web_website",
            "sourceName": None,
            "status": self._random.choice(STATUSES),
            "tags": [],
            "attachments": [],
        }
        ticket = Ticket(ticket_id, created, fields)
        ticket.entries.append(self._entry(ticket, created, "ticket_created", tick))
        self.tickets[ticket_id] = ticket
        if self._picker is not None:
            self._picker.add_partitions(1)
        return ticket

    def _generate_tickets(self, count: int, start: dt.datetime, end: dt.datetime) -> list[Ticket]:
        span = (end - start).total_seconds()
        created = sorted(
            start + dt.timedelta(seconds=self._random.uniform(0, span * 0.8)) for _ in range(count)
        )
        return [self._new_ticket(when) for when in created]

    def _entry(self, ticket: Ticket, when: dt.datetime, action: str, tick: int) -> LogEntry:
        user_id, name = self._random.choice(TEAM)
        client = action == "ticket_created"
        user = {
            "id": ticket.fields["author"]["id"] if client else user_id,
            "image": None,
            "name": ticket.fields["author"]["name"] if client else name,
            "email": None if client else f"{name.split()[0].lower()}@inbox.example",
            "status": "client" if client else "team",
            "isBot": False,
        }
        included: dict[str, list[Any]] = {"categories": [], "tags": [], "users": []}
        if action == "ticket_category_changed":
            included["categories"] = [{"id": 15721, "name": "Other cases"}]
        elif action == "ticket_tags_changed":
            included["tags"] = [{"id": 301, "name": "vip"}]
        elif action == "ticket_assignee_changed":
            included["users"] = [{"id": user_id, "name": name}]
        text = THREAD_ACTIONS.get(action) or LOG_ONLY_ACTIONS[action]
        # The acting agent's offset, not the ticket's: one log mixes offsets.
        offset = self._random.choice(OFFSETS)
        entry = {
            "actionString": text,
            "actionType": action,
            "includedItems": included,
            "user": user,
            "time": dotnet_time(when, offset, tick),
        }
        return LogEntry(when, tick, entry)

    def _generate_entries(
        self, count: int, start: dt.datetime, end: dt.datetime, *, new_tickets: bool
    ) -> None:
        """``count`` log entries in total (ticket_created entries included)."""
        ids = sorted(self.tickets)
        remaining = max(0, count - (len(ids) if not new_tickets else 0))
        touched: dict[int, list[tuple[dt.datetime, int]]] = {}
        for ticket_id in self._ticket_picks(ids, remaining):
            ticket = self.tickets[ticket_id]
            lower = max(start, ticket.created)
            span = (end - lower).total_seconds()
            when = lower + dt.timedelta(seconds=self._random.uniform(0, span))
            touched.setdefault(ticket.id, []).append((when, self._random.randrange(10)))
        for ticket_id, moments in touched.items():
            ticket = self.tickets[ticket_id]
            moments.sort()
            for index, (when, tick) in enumerate(moments):
                if new_tickets and index == 0:
                    # Activity on a ticket starts with a message: it moves the thread time.
                    action = "reply_created"
                else:
                    action = self._random.choice(ACTION_TYPES[1:])
                ticket.entries.append(self._entry(ticket, when, action, tick))
        for ticket in self.tickets.values():
            ticket.entries.sort(key=lambda entry: entry.order, reverse=True)  # newest first

    def _ticket_picks(self, ids: list[int], count: int) -> Iterator[int]:
        """The ticket of each of ``count`` new entries, by the partition-lengths shape."""
        if self._picker is not None:
            for index in self._picker.picks(count, list(range(len(ids)))):
                yield ids[index]
            return
        # Most tickets get a handful of actions, one in 25 is a long conversation (> 50).
        # Drawn one at a time, between the draws of each entry's time: the standard data.
        weights = [60 if i % 25 == 7 else 1 + i % 5 for i in range(len(ids))]
        for _ in range(count):
            yield self._random.choices(ids, weights=weights)[0]

    def add_entry(self, ticket_id: int, when: dt.datetime, action: str) -> dict[str, Any]:
        """Add one log entry now (as an agent acting while a run is under way)."""
        with self._lock:
            ticket = self.tickets[ticket_id]
            log = self._entry(ticket, when, action, self._random.randrange(10))
            ticket.entries.append(log)
            ticket.entries.sort(key=lambda entry: entry.order, reverse=True)
        return log.entry

    def record_counts(self) -> dict[str, int]:
        return {
            TICKETS_STREAM: len(self.tickets),
            LOGS_STREAM: sum(len(ticket.entries) for ticket in self.tickets.values()),
        }

    def append(self, count: int) -> dict[str, int]:
        """A day of activity: about a third on new tickets, the rest on existing ones."""
        start, self.until = self.until, self.until + dt.timedelta(days=1)
        fresh = self._generate_tickets(max(1, count // 6), start, start + dt.timedelta(hours=12))
        self._generate_entries(count - len(fresh), start, self.until, new_tickets=True)
        return self.record_counts()

    def entries_between(
        self, start: dt.datetime, end: dt.datetime
    ) -> list[tuple[int, dict[str, Any]]]:
        """(ticket id, entry) for every entry with ``start <= time < end`` (microseconds)."""
        return [
            (ticket.id, log.entry)
            for ticket in self.tickets.values()
            for log in ticket.entries
            if start <= log.when < end
        ]

    @override
    def expire_credentials_after(self, requests: int) -> None:
        self.token_max_uses = requests

    def config_section(self, base_url: str) -> dict[str, Any]:
        return {"base_url": base_url, "client_id": CLIENT_ID, "refresh_token": REFRESH_TOKEN}

    def routes(self) -> list[Route]:
        return [
            Route("POST", TOKEN_PATH, self.token, f"POST {TOKEN_PATH}"),
            Route("POST", LIST_PATH, self.list_tickets, f"POST {LIST_PATH}"),
            Route("POST", LOG_PATH, self.ticket_log, f"POST {LOG_PATH}"),
        ]

    # -- auth -----------------------------------------------------------------------------

    def token(self, request: Request) -> Response:
        form = {key: values[0] for key, values in parse_qs(request.body.decode()).items()}
        if form.get("grant_type") != "refresh_token":
            return Response.json(400, {"error": "unsupported_grant_type"})
        refresh = form.get("refresh_token")
        if form.get("client_id") != CLIENT_ID or refresh not in self.refresh_tokens:
            return Response.json(400, {"error": "invalid_grant"})
        access = f"sb-at-{secrets.token_hex(16)}"
        with self._lock:
            self._tokens[access] = (dt.datetime.now(dt.timezone.utc), self.token_max_uses)
            self.tokens_issued += 1
        return Response.json(
            200,
            {
                "access_token": access,
                "token_type": "bearer",
                "expires_in": self.token_lifetime_s,
                "refresh_token": form["refresh_token"],
            },
        )

    def revoke_refresh_token(self, token: str = REFRESH_TOKEN) -> None:
        self.refresh_tokens.discard(token)

    def _authorised(self, request: Request) -> bool:
        header = request.header("Authorization") or ""
        token = header.removeprefix("Bearer ").strip()
        if token == STATIC_ACCESS_TOKEN:
            return True
        with self._lock:
            issued = self._tokens.get(token)
            if issued is None:
                return False
            issued_at, uses_left = issued
            age = (dt.datetime.now(dt.timezone.utc) - issued_at).total_seconds()
            if age >= self.token_lifetime_s or uses_left == 0:
                return False
            if uses_left is not None:
                self._tokens[token] = (issued_at, uses_left - 1)
            return True

    # -- endpoints ------------------------------------------------------------------------

    def list_tickets(self, request: Request) -> Response:
        if not self._authorised(request):
            return _unauthorised()
        with self._lock:
            self.list_requests += 1
            count = self.list_requests
        if self.list_hook is not None:
            self.list_hook(count)
        try:
            body = request.json() or {}
            skip, take = _paging(body.get("skip"), body.get("take"))
            created_from = _time(body.get("from"), "from")
            created_to = _time(body.get("to"), "to")
        except ValueError as exc:
            return _error(400, 1, str(exc))
        order = body.get("orderBy")
        if order is not None and order not in ORDER_BY:
            return _error(400, 1, f"orderBy: unknown TicketListOrderBy value {order!r}")
        wanted_ids = body.get("ticketIds")
        with self._lock:
            tickets = list(self.tickets.values())
        selected = [
            ticket
            for ticket in tickets
            if (created_from is None or ticket.created >= created_from)
            and (created_to is None or ticket.created <= created_to)
            and (not wanted_ids or ticket.id in wanted_ids)
            and (not body.get("status") or ticket.fields["status"] == body["status"])
            and (not body.get("source") or ticket.fields["source"] == body["source"])
        ]
        if order in (None, "creation_time_desc"):
            selected.sort(key=lambda t: (t.created, t.id), reverse=True)
        elif order == "creation_time_asc":
            selected.sort(key=lambda t: (t.created, t.id))
        else:
            selected.sort(
                key=lambda t: (t.last_thread_activity, t.id),
                reverse=order == "last_thread_activity_desc",
            )
        page = [ticket.as_api() for ticket in selected[skip : skip + take]]
        if self.extended:
            page = [self._extended_ticket(ticket) for ticket in page]
        self.note_served(TICKETS_STREAM, page)
        return _ok(page)

    def ticket_log(self, request: Request) -> Response:
        if not self._authorised(request):
            return _unauthorised()
        try:
            ticket_id = int(request.path_params["ticketId"])
            skip, take = _paging(request.param("skip"), request.param("take"))
            body = request.json() or {}
        except ValueError as exc:
            return _error(400, 1, str(exc))
        action_types = body.get("action_types") or []
        if not isinstance(action_types, list) or any(a not in ACTION_TYPES for a in action_types):
            return _error(400, 1, "action_types: unknown Ticket action type")
        ticket = self.tickets.get(ticket_id)
        if ticket is None or ticket_id in self.vanished:
            return _error(404, 4, f"Ticket {ticket_id} not found")
        if ticket_id in self.failing_logs:
            code, text = self.failing_logs[ticket_id]
            return _error(200, code, text)
        logs = [
            log
            for log in ticket.entries
            if not action_types or log.entry["actionType"] in action_types
        ][skip : skip + take]
        page = [self._extended_entry(ticket, log) if self.extended else log.entry for log in logs]
        self.note_served(LOGS_STREAM, page)
        return _ok(page)

    def _extended_ticket(self, ticket: dict[str, Any]) -> dict[str, Any]:
        """A ticket with a priority and a due time (offset, 7 digits) the docs do not list."""
        created = dt.datetime.fromisoformat(_seven_digits_cut(ticket["creationTime"]))
        due = created + dt.timedelta(days=2)
        return {
            **ticket,
            "priority": ("normal", "high", "low")[ticket["id"] % 3],
            "dueTime": dotnet_time(due, due.utcoffset() or dt.timedelta(0), ticket["id"]),
        }

    def _extended_entry(self, ticket: Ticket, log: LogEntry) -> dict[str, Any]:
        """An entry with its own id, its ticket and channel; from the middle of the data on,
        a sentiment score."""
        entry: dict[str, Any] = {
            # Ticks (100 ns) since the sandbox's first day: unique, and exact as a JSON number.
            "entryId": (log.when - DEFAULT_START) // dt.timedelta(microseconds=1) * 10 + log.tick,
            **log.entry,
            "ticketId": ticket.id,
            "channel": ticket.fields["source"],
        }
        if self.field_appeared(log.when):
            entry["sentimentScore"] = round((log.tick - 4.5) / 4.5, 2)
        return entry


def _seven_digits_cut(text: str) -> str:
    return re.sub(r"(\.\d{6})\d+", r"\1", text)


def _paging(skip: Any, take: Any) -> tuple[int, int]:  # noqa: ANN401 - raw request values
    try:
        skip_value = int(skip) if skip not in (None, "") else 0
        take_value = int(take) if take not in (None, "") else DEFAULT_TAKE
    except (TypeError, ValueError):
        msg = "skip and take must be integers"
        raise ValueError(msg) from None
    if skip_value < 0:
        msg = "skip must not be negative"
        raise ValueError(msg)
    if not 1 <= take_value <= MAX_TAKE:
        msg = f"take must be between 1 and {MAX_TAKE}"
        raise ValueError(msg)
    return skip_value, take_value


def _time(value: Any, name: str) -> dt.datetime | None:  # noqa: ANN401 - a raw request value
    if value in (None, ""):
        return None
    # .NET sends 7 fractional digits; Python reads at most 6.
    text = re.sub(r"(\.\d{6})\d+", r"\1", str(value)).replace("Z", "+00:00")
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        msg = f"{name} is not a DateTime with offset: {value}"
        raise ValueError(msg) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def _ok(data: list[dict[str, Any]]) -> Response:
    return Response.json(200, {"data": data, "errorCode": -1, "errorText": None})


def _error(status: int, code: int, text: str) -> Response:
    return Response.json(status, {"data": None, "errorCode": code, "errorText": text})


def _unauthorised() -> Response:
    return Response.json(401, {"message": "Authorization has been denied for this request."})


def create_api(
    seed: int, records: int, partition_lengths: str = PARTITION_LENGTHS[0]
) -> SocialboardsAPI:
    """The sandbox's entry point for this vendor; its partitions are the tickets."""
    return SocialboardsAPI(seed=seed, records=records, partition_lengths=partition_lengths)
