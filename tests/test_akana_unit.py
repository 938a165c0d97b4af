"""Akana helpers: durations, dates, body shapes, paging, cookies, session renewal."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
import requests

from tap_ticketlogs.http.responses import RejectedResponseError
from tap_ticketlogs.sandbox.server import Sandbox
from tap_ticketlogs.sources.akana import records
from tap_ticketlogs.sources.akana import sandbox as sandbox_akana
from tap_ticketlogs.sources.akana.auth import (
    RENEW_MARGIN,
    SESSION_LIFETIME,
    AkanaAuthenticator,
    AkanaSession,
    cookie_from_header,
    with_cookie,
)
from tap_ticketlogs.sources.akana.client import is_xml
from tap_ticketlogs.sources.akana.pagination import StartCountPaginator
from tap_ticketlogs.timeutil import iso_duration_to_ms

# The vendor page's sample transaction, verbatim (but for its typographic quote).
VENDOR_SAMPLE: dict[str, Any] = {
    "TransactionID": "97dbd8a7-c5a5-11e3-829c-9e428460984d",
    "APIID": "775a3d03-857f-48cb-bce6-a7cea40c6d3e.demo",
    "APIName": "ACME Payments API",
    "APIVersionID": "7080623c-57fd-433f-a127-b0c2fe3889d7.demo",
    "MethodName": "GetPayment",
    "AppID": "411d0425-e83a-4110-9e03-34c758eebce0.demo",
    "AppName": "Crosfhocal",
    "AppVersionID": "7FuucUjB7B3AYcUVvQpEVv1B.demo",
    "RequestDateTime": "2014-04-16T16:27:55-04:00",
    "ResponseStatusCode": 200,
    "ClientHost": "173.169.155.199",
    "APIVersionName": "4/16/14",
    "MethodKey": "97dbd8a7-c5a5-11e3-829c-9e428460984d",
    "AppVersionName": "1",
    "AppRuntimeID": "7FuucUjB7B3AYcUVvQpEVv1B",
    "ResponseTime": "P0Y0M0DT0H0M0.121S",
    "RequestMessageSize": 0,
    "ResponseMessageSize": 39420,
    "APIResponseTime": "P0Y0M0DT0H0M0.000S",
    "APIURL": "http://api.acmepaymentscorp.com/payments/",
    "HttpVerb": "GET",
}


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        ("P0Y0M0DT0H0M0.121S", 121),  # the vendor's examples
        ("P0Y0M0DT0H0M0.124S", 124),
        ("P0Y0M0DT0H0M0.122S", 122),
        ("P0Y0M0DT0H0M0.000S", 0),
        ("P0Y0M0DT0H1M2.500S", 62_500),
        ("P0Y0M0DT1H0M0.001S", 3_600_001),
        ("PT0.75S", 750),
    ],
)
def test_durations_to_milliseconds(duration: str, expected: int) -> None:
    assert iso_duration_to_ms(duration) == expected
    assert records.duration_ms(duration) == expected


def test_unreadable_durations_keep_the_field_and_derive_nothing() -> None:
    assert records.duration_ms("about a second") is None
    assert records.duration_ms(None) is None
    assert records.duration_ms(121) is None


def test_sandbox_writes_durations_the_vendor_way() -> None:
    assert sandbox_akana.iso_duration(121) == "P0Y0M0DT0H0M0.121S"
    assert sandbox_akana.iso_duration(3_723_004) == "P0Y0M0DT1H2M3.004S"
    assert iso_duration_to_ms(sandbox_akana.iso_duration(3_723_004)) == 3_723_004


def test_vendor_sample_is_shaped_into_a_record() -> None:
    row = records.shape_transaction(dict(VENDOR_SAMPLE), "7FuucUjB7B3AYcUVvQpEVv1B.demo")
    assert row["RequestDateTime"] == "2014-04-16T20:27:55Z"
    assert row["ResponseTime"] == "P0Y0M0DT0H0M0.121S"  # kept as the API sent it
    assert row["response_time_ms"] == 121
    assert row["api_response_time_ms"] == 0
    assert row["AppVersionID"] == "7FuucUjB7B3AYcUVvQpEVv1B.demo"
    assert len(row["log_key"]) == 64
    # The same transaction asked for in another time zone keys the same.
    other_zone = dict(VENDOR_SAMPLE, RequestDateTime="2014-04-16T20:27:55+00:00")
    again = records.shape_transaction(other_zone, "7FuucUjB7B3AYcUVvQpEVv1B.demo")
    assert again["log_key"] == row["log_key"]


def test_integers_sent_as_strings_become_integers() -> None:
    row = records.shape_transaction(
        dict(VENDOR_SAMPLE, ResponseStatusCode="500", ResponseMessageSize=" 17 "), "app"
    )
    assert row["ResponseStatusCode"] == 500
    assert row["ResponseMessageSize"] == 17
    assert records.as_integer("n/a") == "n/a"


def test_request_dates_are_gmt_local_time_to_the_second() -> None:
    assert records.request_date("2026-01-01T00:00:00Z") == "2026-01-01T00:00:00"
    assert records.request_date("2026-03-29T01:30:00+02:00") == "2026-03-28T23:30:00"
    assert records.request_date("2026-01-01T10:00:59.999999Z") == "2026-01-01T10:00:59"
    assert records.request_instant("2026-01-01T10:00:59.9Z") == dt.datetime(
        2026, 1, 1, 10, 0, 59, tzinfo=dt.timezone.utc
    )
    assert records.REQUEST_TIME_ZONE == "GMT"


@pytest.mark.parametrize("key", ["TransactionInfo", "TransactionsInfo"])
def test_both_array_names_are_read(key: str) -> None:
    body = {key: [VENDOR_SAMPLE, VENDOR_SAMPLE]}
    assert records.body_problem(body) is None
    assert len(records.transactions(body)) == 2


def test_one_transaction_as_an_object_is_not_lost() -> None:
    body = {"TransactionsInfo": VENDOR_SAMPLE}
    assert records.body_problem(body) is None
    assert records.transactions(body) == [VENDOR_SAMPLE]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ([], "not an object"),
        ({"TransactionInfo": "x"}, "not a list"),
        ({"TransactionInfo": [1]}, "holds a JSON int"),
        ({"TransactionInfo": [], "TransactionsInfo": []}, "both"),
    ],
)
def test_bodies_of_the_wrong_shape_are_named(body: Any, problem: str) -> None:
    found = records.body_problem(body)
    assert found is not None
    assert problem in found


def test_empty_object_and_null_array_are_empty_pages() -> None:
    assert records.body_problem({}) is None
    assert records.body_problem({"TransactionInfo": None}) is None
    assert records.transactions({"TransactionInfo": None}) == []


def _response(status: int, payload: Any = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = b"" if payload is None else json.dumps(payload).encode()
    response.headers["Content-Type"] = "application/json"
    return response


def test_paginator_advances_by_records_received_and_stops_on_short_page() -> None:
    paginator = StartCountPaginator(page_size=3)
    assert paginator.current_value == 0
    paginator.advance(_response(200, {"TransactionInfo": [{}, {}, {}]}))
    assert (paginator.current_value, paginator.finished) == (3, False)
    # A platform that sends more than asked for: the offset follows what arrived.
    paginator.advance(_response(200, {"TransactionsInfo": [{}, {}, {}, {}]}))
    assert (paginator.current_value, paginator.finished) == (7, False)
    paginator.advance(_response(200, {"TransactionInfo": [{}]}))
    assert paginator.finished


def test_paginator_stops_on_204() -> None:
    paginator = StartCountPaginator(page_size=3)
    paginator.advance(_response(204))
    assert paginator.finished


@pytest.mark.parametrize(
    ("content_type", "xml"),
    [
        ("text/xml", True),
        ("application/xml; charset=UTF-8", True),
        ("application/vnd.soa.v81+xml", True),
        ("application/json", False),
        ("application/vnd.soa.v81+json", False),
        ("text/html", False),
    ],
)
def test_xml_content_types(content_type: str, xml: bool) -> None:
    assert is_xml(content_type) is xml


def test_cookie_header_helpers_keep_other_cookies() -> None:
    header = "AWSALB=lb1; AtmoAuthToken_acme=TokenID%3Dold"
    assert cookie_from_header(header, "AtmoAuthToken_acme") == "TokenID%3Dold"
    assert cookie_from_header(header, "AtmoAuthToken_other") is None
    updated = with_cookie(header, "AtmoAuthToken_acme", "TokenID%3Dnew")
    assert updated == "AWSALB=lb1; AtmoAuthToken_acme=TokenID%3Dnew"
    assert with_cookie(None, "A", "b") == "A=b"


class FakeClock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)

    def __call__(self) -> dt.datetime:
        return self.now


def _session(sandbox: Sandbox, clock: FakeClock, **overrides: Any) -> AkanaSession:
    settings: dict[str, Any] = {
        "base_url": sandbox.base_url,
        "fed_member_id": sandbox_akana.FED_MEMBER_ID,
        "email": sandbox_akana.EMAIL,
        "password": sandbox_akana.PASSWORD,
        **overrides,
    }
    return AkanaSession(**settings, timeout=5, clock=clock)


def _txlogs_status(sandbox: Sandbox, session: AkanaSession) -> int:
    request = requests.Request(
        "GET",
        f"{sandbox.base_url}/api/apps/versions/{next(iter(sandbox_akana.APP_VERSIONS))}/txlogs",
        params={"Duration": "1h"},
    ).prepare()
    AkanaAuthenticator(session)(request)
    return requests.Session().send(request, timeout=5).status_code


def test_session_logs_in_then_renews_before_expiry() -> None:
    with Sandbox(seed=1, records=50, vendors=("akana",)) as sandbox:
        clock = FakeClock()
        session = _session(sandbox, clock)
        session.ensure_fresh()
        first, csrf = session.credentials()
        assert first  # the cookie
        assert csrf  # and the CSRF token, from its own cookie
        assert _txlogs_status(sandbox, session) in (200, 204)

        clock.now += SESSION_LIFETIME - RENEW_MARGIN - dt.timedelta(seconds=1)
        session.ensure_fresh()
        assert session.credentials()[0] == first  # still young enough

        clock.now += dt.timedelta(seconds=1)
        session.ensure_fresh()
        renewed, _ = session.credentials()
        assert renewed != first
        assert (session.logins, session.renewals) == (1, 1)
        assert _txlogs_status(sandbox, session) in (200, 204)
        stats = sandbox.stats()["requests"]
        assert stats["POST /api/login/renewToken"] == {"200": 1}


def test_failed_renewal_falls_back_to_a_login() -> None:
    with Sandbox(seed=1, records=50, vendors=("akana",)) as sandbox:
        clock = FakeClock()
        session = _session(sandbox, clock)
        session.ensure_fresh()
        sandbox.vendors["akana"].expire_sessions()  # type: ignore[attr-defined]
        clock.now += SESSION_LIFETIME
        session.ensure_fresh()
        assert (session.logins, session.renewals) == (2, 0)
        assert _txlogs_status(sandbox, session) in (200, 204)
        assert sandbox.stats()["requests"]["POST /api/login/renewToken"] == {"401": 1}


def test_a_rejected_cookie_is_replaced_once() -> None:
    with Sandbox(seed=1, records=50, vendors=("akana",)) as sandbox:
        session = _session(sandbox, FakeClock(), auth_token="TokenID%3Dexpired-long-ago")
        assert session.credential.renew_after_rejection("TokenID%3Dexpired-long-ago") is True
        fresh, _ = session.credentials()
        # Another thread's 401 for the old cookie: resend, no second login.
        assert session.credential.renew_after_rejection("TokenID%3Dexpired-long-ago") is True
        assert session.logins == 1
        # The cookie of that login rejected too: give up.
        assert session.credential.renew_after_rejection(fresh) is False
        assert session.logins == 1


def test_a_configured_cookie_alone_is_never_replaced() -> None:
    session = AkanaSession(
        base_url="https://akana.example", fed_member_id="acme", auth_token="TokenID%3Dx"
    )
    session.ensure_fresh()  # no network: nothing to log in with
    assert session.credential.renew_after_rejection("TokenID%3Dx") is False


def test_wrong_password_is_rejected_in_one_line() -> None:
    with Sandbox(seed=1, records=10, vendors=("akana",)) as sandbox:
        session = _session(sandbox, FakeClock(), password="not-the-password")
        with pytest.raises(RejectedResponseError) as raised:
            session.ensure_fresh()
    assert raised.value.status == 401
    assert "rejected the login" in raised.value.detail
    assert "not-the-password" not in raised.value.detail
