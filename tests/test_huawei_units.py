"""Huawei helpers: zones, value conversion, offset pages, IAM token handling, error lines."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tap_ticketlogs.http.redaction import REDACTOR
from tap_ticketlogs.http.responses import RejectedResponseError
from tap_ticketlogs.sandbox.server import Sandbox
from tap_ticketlogs.sources.huawei import sandbox as sandbox_huawei
from tap_ticketlogs.sources.huawei.auth import (
    RENEW_MARGIN,
    HuaweiTokenAuthenticator,
    IAMPasswordLogin,
    huawei_authenticator,
)
from tap_ticketlogs.sources.huawei.fields import (
    as_integer,
    epoch_ms_or_datetime,
    local_datetime,
    zone_of,
)
from tap_ticketlogs.sources.huawei.pagination import OffsetTotalPaginator, next_offset
from tap_ticketlogs.sources.huawei.sandbox import HuaweiAPI
from tap_ticketlogs.sources.huawei.selection import selection_start
from tap_ticketlogs.sources.huawei.settings import OFFSET_MAX
from tap_ticketlogs.sources.huawei.streams import HuaweiCasesStream, HuaweiStream, huawei_error_text
from tap_ticketlogs.tap import TapTicketLogs
from tap_ticketlogs.timeutil import parse_datetime

UTC = dt.timezone.utc


@pytest.mark.parametrize(
    ("label", "hours"),
    [("GMT+8", 8), ("GMT", 0), ("GMT+0", 0), ("GMT-5", -5), ("GMT+05:30", 5.5), ("GMT-0330", -3.5)],
)
def test_zone_labels(label: str, hours: float) -> None:
    assert zone_of(label).utcoffset(None) == dt.timedelta(hours=hours)


@pytest.mark.parametrize("label", ["UTC+8", "GMT+15", "Asia/Shanghai", "GMT+8:5", ""])
def test_bad_zone_labels(label: str) -> None:
    with pytest.raises(ValueError, match="time zone"):
        zone_of(label)


def test_local_times_are_read_in_the_zone_unless_they_carry_an_offset() -> None:
    gmt8 = zone_of("GMT+8")
    assert local_datetime("2026-01-05 10:00:00", gmt8) == "2026-01-05T02:00:00Z"
    assert local_datetime("2026-01-05 10:00:00", zone_of("GMT-5")) == "2026-01-05T15:00:00Z"
    assert local_datetime("2026-01-05T10:00:00Z", gmt8) == "2026-01-05T10:00:00Z"
    assert local_datetime("2026-01-05T10:00:00+01:00", gmt8) == "2026-01-05T09:00:00Z"
    assert local_datetime("", gmt8) is None
    assert local_datetime(None, gmt8) is None
    with pytest.raises(ValueError, match="not a date-time"):
        local_datetime(20260105, gmt8)


def test_timestamp_operate_time() -> None:
    gmt8 = zone_of("GMT+8")
    assert epoch_ms_or_datetime("1767600000000", gmt8) == "2026-01-05T08:00:00Z"
    assert epoch_ms_or_datetime(1767600000123, gmt8) == "2026-01-05T08:00:00.123000Z"
    assert epoch_ms_or_datetime("2026-01-05 16:00:00", gmt8) == "2026-01-05T08:00:00Z"
    assert epoch_ms_or_datetime("", gmt8) is None
    with pytest.raises(ValueError, match="epoch milliseconds"):
        epoch_ms_or_datetime("20260105", gmt8)  # digits only, but not milliseconds
    with pytest.raises(ValueError, match="not a timestamp"):
        epoch_ms_or_datetime(True, gmt8)


def test_integers() -> None:
    assert as_integer(3) == 3
    assert as_integer("17") == 17
    assert as_integer("-1") == -1
    assert as_integer(None) is None
    for bad in ("3.5", "x", True):
        with pytest.raises(ValueError, match="not an integer"):
            as_integer(bad)


@pytest.mark.parametrize(
    ("body", "offset", "expected"),
    [
        ({"total_count": 250, "items": [{}] * 100}, 0, 100),
        ({"total_count": 250, "items": [{}] * 100}, 100, 200),
        ({"total_count": 250, "items": [{}] * 50}, 200, None),  # the last page
        ({"total_count": 200, "items": [{}] * 100}, 100, None),  # exactly full
        ({"total_count": 900, "items": []}, 300, None),  # a total that overstates: no loop
        ({"items": [{}] * 100}, 0, None),  # no total: one page
        ({"total_count": 250, "items": [{}] * 7}, 0, 7),  # a short page advances by what came
        ([], 0, None),
    ],
)
def test_next_offset(body: Any, offset: int, expected: int | None) -> None:
    assert next_offset(body, "items", offset) == expected


def _response(body: Any) -> requests.Response:
    response = requests.Response()
    response.status_code = 200
    response._content = json.dumps(body).encode()
    response.request = requests.Request("GET", "http://127.0.0.1/v2/x").prepare()
    return response


def test_paginator_stops_at_the_documented_offset_ceiling() -> None:
    ceilings: list[int] = []
    paginator = OffsetTotalPaginator("items", on_ceiling=lambda _, offset: ceilings.append(offset))
    page = {"total_count": 70_000, "items": [{}] * 100}
    offsets = [paginator.current_value]
    while not paginator.finished:
        paginator.advance(_response(page))
        if not paginator.finished:
            offsets.append(paginator.current_value)
    assert offsets[-1] == 65_500  # the last offset the API accepts with limit 100
    assert max(offsets) <= OFFSET_MAX
    assert offsets == list(range(0, 65_501, 100))
    assert ceilings == [65_600]


def test_error_text() -> None:
    assert huawei_error_text({"error_code": "OSM.1", "error_msg": "No  such\ncase"}) == (
        "OSM.1: No such case"
    )
    assert huawei_error_text({"error_msg": "x"}) == "no error_code: x"


# -- IAM tokens ---------------------------------------------------------------------------


@pytest.fixture
def iam() -> Iterator[tuple[Sandbox, HuaweiAPI]]:
    with Sandbox(seed=1, records=10, vendors=("huawei",)) as running:
        api = running.vendors["huawei"]
        assert isinstance(api, HuaweiAPI)
        yield running, api


def _login(sandbox: Sandbox, **overrides: Any) -> IAMPasswordLogin:
    settings: dict[str, Any] = {
        "iam_url": sandbox.base_url,
        "domain_name": sandbox_huawei.DOMAIN_NAME,
        "user_name": sandbox_huawei.USER_NAME,
        "password": sandbox_huawei.PASSWORD,
        "project_name": sandbox_huawei.PROJECT_NAME,
        "timeout": 10,
        **overrides,
    }
    return IAMPasswordLogin(**settings)


def test_login_sends_the_documented_body(iam: tuple[Sandbox, HuaweiAPI]) -> None:
    sandbox, api = iam
    login = _login(sandbox)
    body = login.request_body()["auth"]
    assert body["identity"]["methods"] == ["password"]
    assert body["identity"]["password"]["user"]["domain"] == {"name": sandbox_huawei.DOMAIN_NAME}
    assert body["scope"] == {"project": {"name": sandbox_huawei.PROJECT_NAME}}
    token, expires_at = login.obtain()
    assert token.startswith("MIIsandbox")
    assert expires_at is not None
    assert dt.timedelta(hours=23) < expires_at - dt.datetime.now(UTC) <= dt.timedelta(hours=24)
    assert REDACTOR.redact(f"token {token}") == "token ***"  # registered before any use
    assert api.logins == 1


def test_domain_scope_without_project(iam: tuple[Sandbox, HuaweiAPI]) -> None:
    sandbox, api = iam
    login = _login(sandbox, project_name=None)
    assert login.request_body()["auth"]["scope"] == {"domain": {"name": sandbox_huawei.DOMAIN_NAME}}
    login.obtain()
    assert api.logins == 1


def test_wrong_password_is_a_rejected_login(iam: tuple[Sandbox, HuaweiAPI]) -> None:
    sandbox, _ = iam
    with pytest.raises(RejectedResponseError) as raised:
        _login(sandbox, password="not-the-password").obtain()
    assert raised.value.status == 401
    assert raised.value.detail == "IAM login failed: HTTP 401: The username or password is wrong."


def test_token_is_renewed_before_it_expires(iam: tuple[Sandbox, HuaweiAPI]) -> None:
    sandbox, api = iam
    now = [dt.datetime.now(UTC)]
    auth = HuaweiTokenAuthenticator(login=_login(sandbox), clock=lambda: now[0])
    first = auth.current_token()
    assert auth.current_token() == first
    assert api.logins == 1
    # Still valid for a little more than the margin: kept.
    now[0] += dt.timedelta(hours=24) - RENEW_MARGIN - dt.timedelta(minutes=1)
    assert auth.current_token() == first
    # Within the margin before expires_at: renewed before the API could reject it.
    now[0] += dt.timedelta(minutes=2)
    second = auth.current_token()
    assert second != first
    assert api.logins == 2


def test_a_rejected_token_is_renewed_once_for_all_threads(iam: tuple[Sandbox, HuaweiAPI]) -> None:
    sandbox, api = iam
    auth = HuaweiTokenAuthenticator(login=_login(sandbox))
    first = auth.current_token()
    assert auth.credential.renew_after_rejection(first) is True
    second = auth.current_token()
    assert second != first
    # A second thread rejected with the same old token: resent with the new one, no login.
    assert auth.credential.renew_after_rejection(first) is True
    assert auth.current_token() == second
    assert api.logins == 2


def test_a_configured_token_is_not_renewable() -> None:
    auth = huawei_authenticator({"auth_token": "configured-token-123"}, timeout=5)
    assert not auth.credential.renewable
    assert auth.credential.renew_after_rejection("configured-token-123") is False
    request = requests.Request("GET", "http://127.0.0.1/").prepare()
    assert auth(request).headers["X-Auth-Token"] == "configured-token-123"
    assert REDACTOR.redact("configured-token-123") == "***"


# -- stream declarations ------------------------------------------------------------------


@pytest.fixture
def tap() -> TapTicketLogs:
    return TapTicketLogs(
        config={
            "start_date": "2026-01-01T00:00:00Z",
            "end_date": "2026-02-01T00:00:00Z",
            "huawei": {
                "base_url": "https://osm.example.com",
                "auth_token": "configured-token-456",
                "group_id": "grp-ops",
                "page_size": 50,
            },
        },
        parse_env_config=False,
    )


def test_requests_name_the_zone_the_language_and_the_time_bounds(tap: TapTicketLogs) -> None:
    cases = tap.streams["huawei_cases"]
    assert isinstance(cases, HuaweiStream)
    assert cases.http_headers["X-Time-Zone"] == "GMT+0"
    assert cases.http_headers["X-Language"] == "en-us"
    # The listing being paged adds its filters (status, query_start_time).
    assert cases.get_url_params(None, 150) == {
        "offset": 150,
        "limit": 50,
        "group_id": "grp-ops",
        "query_end_time": "2026-02-01 00:00:00",
    }
    logs = tap.streams["huawei_case_operate_logs"]
    assert logs.get_url_params({"case_id": "CS1"}, None) == {
        "offset": 0,
        "limit": 50,
        "group_id": "grp-ops",
    }
    # A slash in an id cannot change the path (requests encodes the space when sending).
    assert logs.get_url({"case_id": "CS 1/2"}).endswith("/cases/CS 1%2F2/operate-logs")


def test_selection_start_follows_the_state() -> None:
    start = parse_datetime("2026-01-01T00:00:00Z")
    bookmark = parse_datetime("2026-06-01T00:00:00Z")
    month = dt.timedelta(days=30)
    skew = dt.timedelta(minutes=5)

    def since(bookmark: dt.datetime | None, open_since: dt.datetime | None) -> dt.datetime:
        return selection_start(
            start_date=start, bookmark=bookmark, open_since=open_since, lookback=month
        )

    assert since(None, None) == start  # a first run reads every case
    assert (
        since(bookmark, bookmark - dt.timedelta(days=3)) == bookmark - dt.timedelta(days=3) - skew
    )
    assert since(bookmark, start) == bookmark - month  # an old open case: the lookback caps
    assert since(bookmark, None) == bookmark - month  # an older state says nothing
    assert since(bookmark, bookmark + month) == bookmark - skew  # nothing was open


def test_the_state_decides_which_cases_are_listed() -> None:
    config = {
        "start_date": "2026-01-01T00:00:00Z",
        "end_date": "2026-06-02T00:00:00Z",
        "huawei": {"base_url": "https://osm.example.com", "auth_token": "t-789"},
    }
    marks = {"replication_key_value": "2026-06-01T00:00:00Z", "open_since": "2026-05-20T08:00:00Z"}
    state = {
        "bookmarks": {
            "huawei_cases": {"replication_key": "create_time", **marks},
            "huawei_case_operate_logs": {"replication_key": "operate_time", **marks},
        }
    }
    tap = TapTicketLogs(config=config, state=state, parse_env_config=False)
    cases = tap.streams["huawei_cases"]
    assert isinstance(cases, HuaweiCasesStream)
    assert cases.selection_start() == parse_datetime("2026-05-20T07:55:00Z")
    # A stream without a bookmark (selected for the first time) reads every case again.
    del state["bookmarks"]["huawei_case_operate_logs"]
    fresh = TapTicketLogs(config=config, state=state, parse_env_config=False)
    first_time = fresh.streams["huawei_cases"]
    assert isinstance(first_time, HuaweiCasesStream)
    assert first_time.selection_start() == parse_datetime("2026-01-01T00:00:00Z")


def test_error_bodies_behind_a_200_are_rejected(tap: TapTicketLogs) -> None:
    logs = tap.streams["huawei_case_operate_logs"]
    assert logs.body_problem({"error_code": "OSM.1", "error_msg": "busy"}) == "OSM.1: busy"
    assert logs.body_problem({"incident_operate_log_list": {}}) == (
        "'incident_operate_log_list' is a JSON dict, not a list"
    )
    assert logs.body_problem([]) == "body is a JSON list, not an object"
    assert logs.body_problem({"total_count": 0, "incident_operate_log_list": []}) is None
