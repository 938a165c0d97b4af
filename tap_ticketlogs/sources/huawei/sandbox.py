"""Simulated Huawei Cloud: IAM tokens, the service ticket list and case operation logs.

- ``POST /v3/auth/tokens``: IAM password login (project or domain scope); the token comes
  back in ``X-Subject-Token`` (201), the body says ``token.expires_at``. Tokens can be made
  short-lived (``token_lifetime``) or good for a number of requests only
  (``token_max_uses``), so tests see a token expire in the middle of a run.
- ``GET /v2/servicerequest/cases``: ``offset``/``limit`` (≤ 100), ``query_start_time``/
  ``query_end_time`` on the creation time, ``status`` (one integer, 0..20), and the other
  documented filters (``incident_id``, ``incident_status``, ``search_key``, ``app_key``,
  ``label_id_list``, ``x_customer_id``, ``x_customer_name``, ``group_id``); any other
  parameter is a 400. Answer ``{total_count, incident_info_list}``, newest case first. A
  case's ``status`` is its current one, whatever ``query_end_time`` says, as on the real
  API: the list only knows each case's state now.
- ``GET /v2/servicerequest/cases/{case_id}``: one case's details, ``{incident_detail_info}``,
  with the fields the vendor's detail page lists (not quite the list's: no product category
  or resolution, but the source and severity names); a case that does not exist is a 404.
- ``GET /v2/servicerequest/cases/{case_id}/operate-logs``: ``offset`` (≤ 65 535)/``limit``
  (≤ 100), answer ``{total_count, incident_operate_log_list}``, oldest first.

Cases live: submitted (status 0), accepted and worked on (1), answered (2 to be confirmed,
or 17 pending feedback), then completed (3) or canceled (4); some are reopened (back to 1)
and closed again. A case's status follows its newest operation, so ``append`` (a new day)
opens cases, adds work to open ones, closes some and reopens the odd closed one.

Local times are written without an offset in the zone the request names in ``X-Time-Zone``
(``GMT+8`` when it names none, as the real API does); errors are ``{error_code, error_msg}``.
"""

from __future__ import annotations

import datetime as dt
import functools
import random
import re
import secrets
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

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

DOMAIN_NAME = "ticketlogs-sandbox"
USER_NAME = "ticketlogs-reader"
PASSWORD = "huawei-sandbox-password"  # noqa: S105 - the simulator's published credential
PROJECT_NAME = "ap-southeast-1"
CASES_STREAM = "huawei_cases"
LOGS_STREAM = "huawei_case_operate_logs"
TOKENS_PATH = "/v3/auth/tokens"
CASES_PATH = "/v2/servicerequest/cases"
LOGS_PATH = "/v2/servicerequest/cases/{case_id}/operate-logs"
DETAIL_PATH = "/v2/servicerequest/cases/{case_id}"
MAX_LIMIT = 100
MAX_OFFSET = 65_535
MAX_STATUS = 20
DEFAULT_LIMIT = 10
DEFAULT_ZONE = "GMT+8"
LOCAL_FORMAT = "%Y-%m-%d %H:%M:%S"
DEFAULT_START = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
DEFAULT_DAYS = 30
TOKEN_LIFETIME = dt.timedelta(hours=24)
LOGS_PER_CASE = 40
# The first case gets this share of the logs: more than one page even at limit 100.
BIG_CASE_SHARE = 0.25

_BAD_TOKEN = "Incorrect IAM authentication information"  # noqa: S105 - an error text
_ZONE = re.compile(r"^GMT(?:([+-])(\d{1,2})(?::?(\d{2}))?)?$")
_PROBLEMS = ("cannot connect", "quota", "invoice", "slow responses", "access denied")
_CASE_TYPES = (
    ("Technical support", "ECS"),
    ("Billing", "Billing Center"),
    ("Technical support", "OBS"),
    ("Account", "IAM"),
    ("Technical support", "RDS"),
)
# operate_type: (English, Chinese) description; the language follows X-Language.
_OPERATIONS = {
    1: ("Service ticket submitted", "提交工单"),
    2: ("Engineer accepted the ticket", "工程师受理工单"),
    3: ("Customer added a message", "客户留言"),
    4: ("Engineer replied", "工程师回复"),
    5: ("Ticket transferred", "工单转派"),
    6: ("Customer uploaded an attachment", "客户上传附件"),
    7: ("Ticket urged", "催单"),
    8: ("Ticket closed", "关闭工单"),
    9: ("Ticket canceled", "撤销工单"),
    10: ("Ticket reopened", "重新打开工单"),
    11: ("Engineer provided a solution", "工程师提供解决方案"),
}
# Work on an open case; submitting, closing, canceling and reopening are lifecycle steps.
_WORK_OPERATIONS = (2, 3, 4, 5, 6, 7, 11)
_WORK_WEIGHTS = (10, 25, 30, 8, 10, 5, 6)
CLOSING_OPERATIONS = (8, 9)
# The status a case is in after each operation (documented values: 0 to be processed,
# 1 processing, 2 to be confirmed, 3 completed, 4 canceled, 12 invalid, 17 pending feedback).
STATUS_AFTER = {1: 0, 2: 1, 3: 1, 4: 17, 5: 1, 6: 1, 7: 1, 8: 3, 9: 4, 10: 1, 11: 2}
OPEN_STATUSES = (0, 1, 2, 17)
COMPLETED = 3
# Documented query parameters of each endpoint: anything else is rejected.
CASES_PARAMS = frozenset(
    {
        "search_key",
        "label_id_list",
        "app_key",
        "incident_id",
        "query_start_time",
        "query_end_time",
        "status",
        "incident_status",
        "x_customer_id",
        "x_customer_name",
        "group_id",
        "offset",
        "limit",
    }
)
LOGS_PARAMS = frozenset({"group_id", "offset", "limit"})
DETAIL_PARAMS = frozenset({"group_id"})
# The fields the detail page (IncidentDetailInfoV2) shares with the list's entries.
DETAIL_FIELDS_FROM_LIST = (
    "xcustomer_id",
    "xcustomer_name",
    "status",
    "incident_id",
    "business_type_name",
    "incident_type_name",
    "customer_id",
    "dc_name",
    "simple_description",
    "create_time",
)
# How long a case stays open, from submission to its closing operation.
_LIFETIME_HOURS = (2.0, 21 * 24.0)
# Share of closings that are cancellations.
_CANCEL_SHARE = 0.15


@dataclass
class CaseLog:
    """One operation log entry; its times are rendered per request."""

    log_id: str
    case_id: str
    when: dt.datetime
    operate_type: int
    operator_type: int
    operator_id: str
    operator_name: str


@dataclass
class Case:
    case_id: str
    created: dt.datetime
    business_type: str
    product: str
    customer_id: str
    description: str
    #: The IAM sub-user who opened it, if not the account itself.
    sub_user: str | None
    #: When it is planned to close (completed or canceled); None once closed.
    closes_at: dt.datetime | None
    #: Its operation log, oldest first (the simulator's truth; shared with ``HuaweiAPI.logs``).
    entries: list[CaseLog]

    @property
    def status(self) -> int:
        """The current status: the one its newest operation left it in."""
        return STATUS_AFTER[self.entries[-1].operate_type] if self.entries else 0

    @property
    def confirmed(self) -> dt.datetime | None:
        """Completed cases: when (the newest closing operation)."""
        if self.status != COMPLETED:
            return None
        return self.entries[-1].when


@dataclass
class Token:
    expires_at: dt.datetime
    uses_left: int | None


class HuaweiAPI(VendorAPI):
    """Cases opened over a month and their operation logs, one case with several pages."""

    name = "huawei"

    def __init__(
        self,
        *,
        seed: int,
        records: int,
        start: dt.datetime = DEFAULT_START,
        partition_lengths: str = PARTITION_LENGTHS[0],
    ) -> None:
        self._random = random.Random(f"huawei-{seed}")
        #: Which case each operation goes to, unless the shape is the standard one (whose
        #: first case is the long one).
        self._picker = (
            None
            if partition_lengths == PARTITION_LENGTHS[0]
            else PartitionPicker(partition_lengths, f"huawei-{seed}")
        )
        self.start = start
        self.until = start + dt.timedelta(days=DEFAULT_DAYS)
        self.cases: list[Case] = []
        self.logs: dict[str, list[CaseLog]] = {}
        self._serial = 0
        #: Lifetime of issued tokens, and how many API requests each may serve (None: any).
        self.token_lifetime = TOKEN_LIFETIME
        self.token_max_uses: int | None = None
        self._tokens: dict[str, Token] = {}
        self._lock = threading.Lock()
        #: What the tap sent: logins, group ids and time zones, for tests to inspect.
        self.logins = 0
        self.seen: Counter[tuple[str, str]] = Counter()
        per_case = (
            LOGS_PER_CASE if self._picker is None else int(SHAPED_PAGES_PER_PARTITION * MAX_LIMIT)
        )
        self._generate(
            records,
            self.start,
            self.until,
            new_cases=max(3, records // per_case),
            big_case=self._picker is None,
        )

    # -- data ---------------------------------------------------------------------------

    def _new_case(self, created: dt.datetime) -> Case:
        business, product = self._random.choice(_CASE_TYPES)
        lifetime = dt.timedelta(hours=self._random.uniform(*_LIFETIME_HOURS))
        case = Case(
            case_id=f"CS{created:%Y%m%d}{len(self.cases) + 1:05d}",
            created=created,
            business_type=business,
            product=product,
            customer_id=f"{self._random.getrandbits(64):016x}",
            description=f"{product}: {self._random.choice(_PROBLEMS)}",
            sub_user=self._random.choice((None, "dev-ops", "finance")),
            closes_at=_whole_second(created + lifetime),
            entries=[],
        )
        self.cases.append(case)
        self.logs[case.case_id] = case.entries
        if self._picker is not None:
            self._picker.add_partitions(1)
        return case

    def _generate(
        self,
        count: int,
        start: dt.datetime,
        end: dt.datetime,
        *,
        new_cases: int,
        big_case: bool = False,
        reopen: bool = False,
    ) -> None:
        """``count`` operations in ``[start, end)``: the submissions of ``new_cases`` cases,
        work on the cases open meanwhile, and the closing of those whose time has come."""
        budget = count
        # Cases open in the first half of the period, so each has time for its logs.
        half = start + (end - start) / 2
        opened = sorted(
            (self._new_case(self._moment(start, half)) for _ in range(new_cases)),
            key=lambda case: case.created,
        )
        if big_case and opened:
            # One long case, open past the period: more than one page of logs at limit 100.
            opened[0].closes_at = end + dt.timedelta(days=1)
        for case in opened[:budget]:
            self._add(case, case.created, 1)  # every new case starts with its submission
        budget -= min(budget, len(opened))
        if reopen and budget and self._reopen_one(start, half):
            budget -= 1
        active = [
            case
            for case in self.cases
            if case.closes_at is not None and case.entries and case.created < end
        ]
        closing = [case for case in active if case.closes_at is not None and case.closes_at < end]
        closing = closing[:budget]
        big = opened[0] if big_case and opened else None
        for case in self._case_picks(active, budget - len(closing), big):
            lower = max(start, _active_since(case))
            upper = min(end, case.closes_at) if case.closes_at is not None else end
            when = self._moment(lower, upper) if lower < upper else lower
            self._add(case, when, self._operation(), keep_order=False)
        for case in closing:
            # After every other operation of the case: a closing is its newest entry.
            assert case.closes_at is not None
            when = max(case.closes_at, *(entry.when for entry in case.entries))
            operation = 9 if self._random.random() < _CANCEL_SHARE else 8
            self._add(case, when, operation, keep_order=False)
            case.closes_at = None
        for case in self.cases:
            case.entries.sort(key=lambda entry: (entry.when, entry.log_id))

    def _case_picks(self, active: list[Case], count: int, big: Case | None) -> Iterator[Case]:
        """The case of each of ``count`` work operations, by the partition-lengths shape."""
        if self._picker is not None:
            number = {case.case_id: index for index, case in enumerate(self.cases)}
            for index in self._picker.picks(count, [number[case.case_id] for case in active]):
                yield self.cases[index]
            return
        # Drawn one at a time, between the draws of each operation: the standard data.
        for _ in range(count):
            if big is not None and self._random.random() < BIG_CASE_SHARE:
                yield big
            else:
                yield self._random.choice(active)

    def _reopen_one(self, start: dt.datetime, end: dt.datetime) -> bool:
        """Reopen a closed case, as a customer who writes again would; False if none is."""
        closed = [case for case in self.cases if case.closes_at is None and case.entries]
        if not closed:
            return False
        case = self._random.choice(closed)
        when = max(self._moment(start, end), case.entries[-1].when + dt.timedelta(seconds=1))
        self._add(case, when, 10)
        hours = self._random.uniform(1.0, 5 * 24.0)
        case.closes_at = _whole_second(when + dt.timedelta(hours=hours))
        return True

    def _add(
        self, case: Case, when: dt.datetime, operate_type: int, *, keep_order: bool = True
    ) -> None:
        self._serial += 1
        engineer = operate_type in (2, 4, 5, 8, 11)
        engineer_no = self._random.randrange(1, 40)
        case.entries.append(
            CaseLog(
                log_id=f"{self._serial:012d}",
                case_id=case.case_id,
                when=when,
                operate_type=operate_type,
                operator_type=1 if engineer else 0,
                operator_id=f"eng-{engineer_no:03d}" if engineer else case.customer_id,
                operator_name=f"Engineer {engineer_no}" if engineer else USER_NAME,
            )
        )
        if keep_order:
            case.entries.sort(key=lambda entry: (entry.when, entry.log_id))

    def _moment(self, lower: dt.datetime, upper: dt.datetime) -> dt.datetime:
        """A whole second in [lower, upper): operate_time strings carry whole seconds."""
        seconds = self._random.uniform(0, (upper - lower).total_seconds())
        return _whole_second(lower + dt.timedelta(seconds=seconds))

    def _operation(self) -> int:
        return self._random.choices(_WORK_OPERATIONS, weights=_WORK_WEIGHTS)[0]

    def reopen(self, case: Case, when: dt.datetime, work: int = 1) -> list[CaseLog]:
        """Reopen a closed case at ``when`` and add ``work`` operations after it (tests)."""
        assert case.status not in OPEN_STATUSES, "only a closed case can be reopened"
        self._add(case, when, 10)
        for step in range(work):
            self._add(case, when + dt.timedelta(minutes=step + 1), self._operation())
        return case.entries[-1 - work :]

    def close(self, case: Case, when: dt.datetime) -> CaseLog:
        """Complete an open case at ``when`` (tests)."""
        assert case.status in OPEN_STATUSES, "only an open case can be closed"
        self._add(case, when, 8)
        case.closes_at = None
        return case.entries[-1]

    def all_logs(self) -> list[CaseLog]:
        return [entry for entries in self.logs.values() for entry in entries]

    # -- VendorAPI ----------------------------------------------------------------------

    def routes(self) -> list[Route]:
        return [
            Route("POST", TOKENS_PATH, self.tokens, f"POST {TOKENS_PATH}"),
            Route("GET", CASES_PATH, self.list_cases, f"GET {CASES_PATH}"),
            Route("GET", LOGS_PATH, self.operate_logs, f"GET {LOGS_PATH}"),
            Route("GET", DETAIL_PATH, self.case_detail, f"GET {DETAIL_PATH}"),
        ]

    def record_counts(self) -> dict[str, int]:
        return {CASES_STREAM: len(self.cases), LOGS_STREAM: len(self.all_logs())}

    @override
    def expire_credentials_after(self, requests: int) -> None:
        self.token_max_uses = requests

    def config_section(self, base_url: str) -> dict[str, Any]:
        return {
            "base_url": base_url,
            "iam_url": base_url,
            "domain_name": DOMAIN_NAME,
            "user_name": USER_NAME,
            "password": PASSWORD,
            "project_name": PROJECT_NAME,
            "language": "en-us",
            "page_size": MAX_LIMIT,
        }

    def append(self, count: int) -> dict[str, int]:
        start, self.until = self.until, self.until + dt.timedelta(days=1)
        self._generate(
            count, start, self.until, new_cases=max(1, count // LOGS_PER_CASE), reopen=True
        )
        return self.record_counts()

    def issue_token(self) -> str:
        """A valid token, as a login would give (for tests of a configured auth_token)."""
        token = "MIIsandbox" + secrets.token_urlsafe(48)
        with self._lock:
            self._tokens[token] = Token(_now() + self.token_lifetime, self.token_max_uses)
        return token

    # -- handlers -----------------------------------------------------------------------

    def tokens(self, request: Request) -> Response:
        try:
            auth = request.json()["auth"]
            user = auth["identity"]["password"]["user"]
            methods = auth["identity"]["methods"]
            scope = auth.get("scope") or {}
        except (ValueError, KeyError, TypeError):
            return _iam_error(400, "Bad Request", "The body is not a password auth request.")
        if methods != ["password"]:
            return _iam_error(400, "Bad Request", "Only the password method is supported.")
        if (user.get("domain") or {}).get("name") != DOMAIN_NAME or user.get("name") != USER_NAME:
            return _iam_error(401, "Unauthorized", "The username or password is wrong.")
        if user.get("password") != PASSWORD:
            return _iam_error(401, "Unauthorized", "The username or password is wrong.")
        project = (scope.get("project") or {}).get("name")
        domain = (scope.get("domain") or {}).get("name")
        if project not in (None, PROJECT_NAME) or (project is None and domain != DOMAIN_NAME):
            return _iam_error(401, "Unauthorized", "The scope is not authorized for this user.")
        token = self.issue_token()
        with self._lock:
            self.logins += 1
            expires_at = self._tokens[token].expires_at
        issued = _now()
        body: dict[str, Any] = {
            "token": {
                "methods": ["password"],
                "expires_at": _iam_time(expires_at),
                "issued_at": _iam_time(issued),
                "user": {"name": USER_NAME, "domain": {"name": DOMAIN_NAME}},
                **({"project": {"name": project}} if project else {"domain": {"name": domain}}),
            }
        }
        return Response.json(201, body, {"X-Subject-Token": token})

    def _authorised(self, request: Request) -> Response | None:
        """None when the token is good (and counts one use of it), else the 401."""
        token = request.header("X-Auth-Token")
        with self._lock:
            state = self._tokens.get(token or "")
            if state is None:
                return _api_error(401, "APIGW.0301", f"{_BAD_TOKEN}: unknown token")
            if state.expires_at <= _now() or state.uses_left == 0:
                return _api_error(401, "APIGW.0301", f"{_BAD_TOKEN}: token expired")
            if state.uses_left is not None:
                state.uses_left -= 1
        return None

    def _common(  # noqa: PLR0911
        self, request: Request, documented: frozenset[str]
    ) -> tuple[dt.tzinfo, str, int, int] | Response:
        """Checks shared by both list endpoints: token, parameters, zone, language, paging."""
        rejected = self._authorised(request)
        if rejected is not None:
            return rejected
        unknown = sorted(set(request.query) - documented)
        if unknown:
            return _api_error(400, "OSM.00040001", f"unknown parameter: {', '.join(unknown)}")
        label = request.header("X-Time-Zone") or DEFAULT_ZONE
        zone = _zone(label)
        if zone is None:
            return _api_error(400, "OSM.00040002", f"X-Time-Zone is not valid: {label}")
        language = request.header("X-Language") or "zh-cn"
        try:
            offset = int(request.param("offset") or 0)
            limit = int(request.param("limit") or DEFAULT_LIMIT)
        except ValueError:
            return _api_error(400, "OSM.00040001", "offset and limit must be integers")
        if not 0 <= offset <= MAX_OFFSET:
            return _api_error(400, "OSM.00040001", f"offset must be between 0 and {MAX_OFFSET}")
        if not 0 <= limit <= MAX_LIMIT:
            return _api_error(400, "OSM.00040001", f"limit must be between 0 and {MAX_LIMIT}")
        group_id = request.param("group_id")
        if group_id is not None and len(group_id) > 64:
            return _api_error(400, "OSM.00040001", "group_id is longer than 64 characters")
        with self._lock:
            self.seen[("zone", label)] += 1
            self.seen[("group_id", group_id or "")] += 1
        return zone, language, offset, limit

    def list_cases(self, request: Request) -> Response:
        common = self._common(request, CASES_PARAMS)
        if isinstance(common, Response):
            return common
        zone, language, offset, limit = common
        try:
            lower = _parse_query_time(request.param("query_start_time"), zone)
            upper = _parse_query_time(request.param("query_end_time"), zone)
            wanted = _case_filter(request)
        except ValueError as exc:
            return _api_error(400, "OSM.00040001", str(exc))
        with self._lock:
            status = request.param("status")
            self.seen[("status", status or "")] += 1
        matching = [
            case
            for case in self.cases
            if (lower is None or case.created >= lower)
            and (upper is None or case.created <= upper)
            and wanted(case)
        ]
        # Newest first, as the console lists them.
        matching.sort(key=lambda case: (case.created, case.case_id), reverse=True)
        page = [self._case_json(case, zone, language) for case in matching[offset : offset + limit]]
        self.note_served(CASES_STREAM, page)
        return Response.json(200, {"total_count": len(matching), "incident_info_list": page})

    def _case_json(self, case: Case, zone: dt.tzinfo, language: str) -> dict[str, Any]:
        optional: dict[str, Any] = {}
        if case.sub_user:
            optional["xcustomer_id"] = _sub_user(case, "id")
            optional["xcustomer_name"] = case.sub_user
        confirmed = case.confirmed
        if confirmed:
            optional["confirmed_time"] = _local(confirmed, zone)
            optional["root_cause"] = "Customer configuration"
            optional["resolution"] = "Explained the setting to change"
        if self.extended:
            # A severity and an update time (local, no offset) the docs do not list.
            optional["severity"] = ("minor", "major", "critical")[int(case.customer_id, 16) % 3]
            optional["update_time"] = _local(case.created + dt.timedelta(hours=1), zone)
        return {
            **optional,
            "status": case.status,
            "incident_id": case.case_id,
            "business_type_name": case.business_type,
            "incident_type_name": "Service ticket" if language == "en-us" else "服务工单",
            "product_category_name": case.product,
            "incident_service_type": "Technical service ticket",
            "customer_id": case.customer_id,
            "dc_name": "AP-Singapore",
            "simple_description": case.description,
            "create_time": _local(case.created, zone),
            "label_list": [],
        }

    def case_detail(self, request: Request) -> Response:
        common = self._common(request, DETAIL_PARAMS)
        if isinstance(common, Response):
            return common
        zone, language, _, _ = common
        case_id = request.path_params["case_id"]
        case = next((case for case in self.cases if case.case_id == case_id), None)
        if case is None:
            return _api_error(404, "OSM.00040404", f"The service ticket {case_id} does not exist")
        listed = self._case_json(case, zone, language)
        detail: dict[str, Any] = {
            field: listed[field] for field in DETAIL_FIELDS_FROM_LIST if field in listed
        }
        detail["source_name"] = "Console"
        detail["severity_name"] = "Normal"
        detail["message_list"] = []
        self.note_served(CASES_STREAM, [detail])
        return Response.json(200, {"incident_detail_info": detail})

    def operate_logs(self, request: Request) -> Response:
        common = self._common(request, LOGS_PARAMS)
        if isinstance(common, Response):
            return common
        zone, language, offset, limit = common
        case_id = request.path_params["case_id"]
        if case_id not in self.logs:
            return _api_error(404, "OSM.00040404", f"The service ticket {case_id} does not exist")
        entries = self.logs[case_id]
        page = entries[offset : offset + limit]
        english = language == "en-us"
        logs = [
            {
                "incident_log_id": entry.log_id,
                "incident_id": entry.case_id,
                "operate_type": entry.operate_type,
                "operator_type": entry.operator_type,
                "operator_id": entry.operator_id,
                "operator_name": entry.operator_name,
                "operate_desc": _OPERATIONS[entry.operate_type][0 if english else 1],
                "operate_time": _local(entry.when, zone),
                "timestamp_operate_time": str(int(entry.when.timestamp() * 1000)),
                **(self._extended_log(entry) if self.extended else {}),
            }
            for entry in page
        ]
        self.note_served(LOGS_STREAM, logs)
        return Response.json(200, {"total_count": len(entries), "incident_operate_log_list": logs})

    def _extended_log(self, entry: CaseLog) -> dict[str, Any]:
        """The operator's address; from the middle of the data on, an attachment count."""
        serial = int(entry.log_id)
        extra: dict[str, Any] = {"operate_ip": f"10.{serial % 200}.{serial % 7}.{serial % 250 + 1}"}
        if self.field_appeared(entry.when):
            extra["attachment_count"] = serial % 4
        return extra


def _active_since(case: Case) -> dt.datetime:
    """When the case's current life began: its submission, or its latest reopening."""
    return max(
        (entry.when for entry in case.entries if entry.operate_type in (1, 10)),
        default=case.created,
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _whole_second(value: dt.datetime) -> dt.datetime:
    # operate_time strings carry whole seconds: the truth must be representable.
    return value.replace(microsecond=0)


def _zone(label: str) -> dt.tzinfo | None:
    found = _ZONE.match(label.strip())
    if found is None:
        return None
    sign, hours, minutes = found.groups()
    if sign is None:
        return dt.timezone.utc
    offset = dt.timedelta(hours=int(hours), minutes=int(minutes or 0))
    if offset > dt.timedelta(hours=14):
        return None
    return dt.timezone(-offset if sign == "-" else offset)


def _local(value: dt.datetime, zone: dt.tzinfo) -> str:
    return value.astimezone(zone).strftime(LOCAL_FORMAT)


def _parse_query_time(value: str | None, zone: dt.tzinfo) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.strptime(value, LOCAL_FORMAT)
    except ValueError:
        msg = f"time must be written as yyyy-MM-dd HH:mm:ss, got {value}"
        raise ValueError(msg) from None
    return parsed.replace(tzinfo=zone)


def _case_filter(request: Request) -> Callable[[Case], bool]:
    """The documented filters besides time and paging; ValueError for an invalid value."""
    checks: list[Callable[[Case], bool]] = []
    status = request.param("status")
    if status is not None and status != "":
        if not status.strip().lstrip("-").isdigit() or not 0 <= int(status) <= MAX_STATUS:
            msg = f"status must be an integer between 0 and {MAX_STATUS}, got {status}"
            raise ValueError(msg)
        checks.append(lambda case: case.status == int(status))
    listed = request.param("incident_status")
    if listed:
        # A "status list": its format is not documented; comma-separated integers here.
        try:
            statuses = {int(part) for part in listed.split(",") if part.strip()}
        except ValueError:
            msg = f"incident_status must list integers, got {listed}"
            raise ValueError(msg) from None
        checks.append(lambda case: case.status in statuses)
    incident_id = request.param("incident_id")
    if incident_id:
        checks.append(lambda case: case.case_id == incident_id)
    for name, field in (("x_customer_id", "id"), ("x_customer_name", "name")):
        value = request.param(name)
        if value:
            checks.append(functools.partial(_sub_user_is, field=field, value=value))
    words = [word for value in request.params("search_key") for word in value.split()]
    if words:
        checks.append(lambda case: all(w.lower() in case.description.lower() for w in words))
    app_key = request.param("app_key")
    if app_key:
        checks.append(lambda case: app_key in case.case_id or app_key in case.description)
    if request.params("label_id_list"):
        checks.append(lambda _case: False)  # the simulated cases carry no labels
    return lambda case: all(check(case) for check in checks)


def _sub_user_is(case: Case, *, field: str, value: str) -> bool:
    return _sub_user(case, field) == value


def _sub_user(case: Case, field: str) -> str | None:
    if case.sub_user is None:
        return None
    return f"{case.customer_id[:8]}-{case.sub_user}" if field == "id" else case.sub_user


def _iam_time(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


def _iam_error(status: int, title: str, message: str) -> Response:
    return Response.json(status, {"error": {"code": status, "message": message, "title": title}})


def _api_error(status: int, code: str, message: str) -> Response:
    return Response.json(status, {"error_code": code, "error_msg": message})


def create_api(seed: int, records: int, partition_lengths: str = PARTITION_LENGTHS[0]) -> HuaweiAPI:
    """The sandbox's entry point for this vendor; its partitions are the cases."""
    return HuaweiAPI(seed=seed, records=records, partition_lengths=partition_lengths)
