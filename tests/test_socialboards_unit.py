"""Socialboards helpers: times, envelope, paging, and the authenticator's token handling."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import threading
from typing import Any

import pytest
import requests
from pytest_httpserver import HTTPServer
from werkzeug import Response

from tap_ticketlogs.errors import SourceAPIError
from tap_ticketlogs.sandbox.server import Sandbox
from tap_ticketlogs.sources.socialboards.auth import SocialboardsAuthenticator
from tap_ticketlogs.sources.socialboards.pagination import SkipTakePaginator
from tap_ticketlogs.sources.socialboards.sandbox import CLIENT_ID, REFRESH_TOKEN, SocialboardsAPI
from tap_ticketlogs.sources.socialboards.streams import envelope_problem, ticket_activity
from tap_ticketlogs.sources.socialboards.times import normalise_api_time, parse_api_time
from tap_ticketlogs.streams.base import TicketLogsStream
from tests.helpers import run_tap

UTC = dt.timezone.utc


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2022-10-28T12:41:36.6267804+00:00", "2022-10-28T12:41:36.6267804Z"),
        ("2022-10-28T12:41:36.6267804+02:00", "2022-10-28T10:41:36.6267804Z"),
        ("2020-02-27T00:28:02.6019432+01:00", "2020-02-26T23:28:02.6019432Z"),
        ("2022-09-27T23:05:58.77-05:30", "2022-09-28T04:35:58.7700000Z"),
        ("2022-09-27T23:05:58+00:00", "2022-09-27T23:05:58.0000000Z"),
        ("2022-09-27T23:05:58.1234567Z", "2022-09-27T23:05:58.1234567Z"),
    ],
)
def test_api_times_become_utc_with_seven_digits(value: str, expected: str) -> None:
    assert normalise_api_time(value) == expected


def test_empty_times_stay_none() -> None:
    assert normalise_api_time(None) is None
    assert normalise_api_time("") is None


def test_entries_100_ns_apart_keep_their_order() -> None:
    earlier = normalise_api_time("2022-10-28T12:41:36.6267804+01:00")
    later = normalise_api_time("2022-10-28T13:41:36.6267805+02:00")
    assert earlier is not None
    assert later is not None
    assert earlier < later
    assert parse_api_time("2022-10-28T12:41:36.6267804+01:00") == dt.datetime(
        2022, 10, 28, 11, 41, 36, 626780, tzinfo=UTC
    )


def test_envelope_problem() -> None:
    assert envelope_problem({"data": [], "errorCode": -1, "errorText": None}) is None
    assert envelope_problem({"data": None, "errorCode": -1}) is None
    assert envelope_problem({"data": None, "errorCode": 3, "errorText": "Ticket locked"}) == (
        "Socialboards errorCode 3: Ticket locked"
    )
    assert envelope_problem({"errorCode": 9}) == "Socialboards errorCode 9: no errorText"
    assert envelope_problem({"data": {"id": 1}, "errorCode": -1}) == (
        "'data' is a JSON dict, not a list"
    )
    assert envelope_problem([1]) == "body is a JSON list, not an object"
    # No error, no `data`: not an empty page, which would move the bookmark past the tickets.
    assert envelope_problem({"errorCode": -1, "errorText": None}) == (
        "the envelope carries no 'data'"
    )


def test_ticket_activity_falls_back_to_creation_time() -> None:
    created = "2023-12-06T17:42:07.7888252+03:00"
    assert ticket_activity({"creationTime": created}) == parse_api_time(created)
    assert ticket_activity({"lastThreadElementCreationTime": None, "creationTime": created}) == (
        parse_api_time(created)
    )
    assert ticket_activity({"id": 1}) is None


def page(items: list[dict[str, Any]]) -> requests.Response:
    response = requests.Response()
    response.status_code = 200
    response._content = json.dumps({"data": items, "errorCode": -1, "errorText": None}).encode()
    return response


def entries(*hours: int) -> list[dict[str, Any]]:
    return [{"time": f"2026-01-01T{hour:02d}:00:00.0000000+00:00"} for hour in hours]


def entry_time(entry: dict[str, Any]) -> dt.datetime:
    return parse_api_time(entry["time"])


def test_skip_advances_by_take_until_a_short_page() -> None:
    paginator = SkipTakePaginator(3)
    paginator.advance(page(entries(9, 8, 7)))
    assert paginator.current_value == 3
    assert not paginator.finished
    paginator.advance(page(entries(6, 5, 4)))
    assert paginator.current_value == 6
    paginator.advance(page(entries(3)))
    assert paginator.finished


def test_newest_first_pages_stop_once_past_the_bookmark() -> None:
    bookmark = dt.datetime(2026, 1, 1, 5, tzinfo=UTC)
    paginator = SkipTakePaginator(3, item_time=entry_time, stop_before=bookmark)
    paginator.advance(page(entries(9, 8, 7)))
    assert not paginator.finished
    paginator.advance(page(entries(6, 5, 5)))  # still nothing older than the bookmark
    assert not paginator.finished
    paginator.advance(page(entries(4, 3, 2)))
    assert paginator.finished
    assert not paginator.out_of_order


def test_pages_out_of_order_are_all_read() -> None:
    bookmark = dt.datetime(2026, 1, 1, 5, tzinfo=UTC)
    paginator = SkipTakePaginator(3, item_time=entry_time, stop_before=bookmark)
    paginator.advance(page(entries(2, 8, 1)))  # ascending inside the page
    assert paginator.out_of_order
    assert not paginator.finished
    paginator.advance(page(entries(3, 2, 1)))
    assert not paginator.finished  # the order can no longer be trusted


def test_a_page_newer_than_the_previous_one_disables_the_early_stop() -> None:
    bookmark = dt.datetime(2026, 1, 1, 5, tzinfo=UTC)
    paginator = SkipTakePaginator(3, item_time=entry_time, stop_before=bookmark)
    paginator.advance(page(entries(9, 8, 7)))
    paginator.advance(page(entries(10, 4, 3)))
    assert paginator.out_of_order
    assert not paginator.finished


@pytest.fixture
def sb_api() -> Any:
    with Sandbox(seed=3, records=40, vendors=("socialboards",)) as sandbox:
        api = sandbox.vendors["socialboards"]
        assert isinstance(api, SocialboardsAPI)
        yield sandbox, api


def authenticator(base_url: str, **overrides: Any) -> SocialboardsAuthenticator:
    settings: dict[str, Any] = {
        "base_url": base_url,
        "client_id": CLIENT_ID,
        "refresh_token": REFRESH_TOKEN,
        "access_token": None,
        "timeout": 10,
        **overrides,
    }
    return SocialboardsAuthenticator(**settings)


def test_token_is_refreshed_shortly_before_it_expires(sb_api: Any) -> None:
    sandbox, api = sb_api
    auth = authenticator(sandbox.base_url)
    first = auth.current_token()
    assert auth.expires_in == 3599
    assert auth.current_token() == first  # valid: reused
    assert auth.last_refreshed is not None
    auth.last_refreshed -= dt.timedelta(seconds=3599 - 59)  # inside the 60 s margin
    assert not auth.is_token_valid()
    assert auth.current_token() != first
    assert api.tokens_issued == 2


def test_one_renewal_per_rejected_token_across_threads(sb_api: Any) -> None:
    sandbox, api = sb_api
    auth = authenticator(sandbox.base_url)
    rejected = auth.current_token()
    results: list[bool] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(auth.credential.renew_after_rejection(rejected))
        )
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [True] * 8
    assert api.tokens_issued == 2  # the first token, and one renewal


def test_a_fresh_token_rejected_at_once_is_fatal_but_one_that_worked_is_renewed(
    sb_api: Any,
) -> None:
    sandbox, _ = sb_api
    auth = authenticator(sandbox.base_url)
    assert auth.credential.renew_after_rejection(auth.current_token())
    fresh = auth.current_token()
    assert not auth.credential.renew_after_rejection(fresh)  # renewed, rejected again: give up
    auth.credential.accepted(fresh)  # ...unless the server took it for a while (expired since)
    assert auth.credential.renew_after_rejection(fresh)


def test_static_token_without_refresh_token_cannot_be_renewed(sb_api: Any) -> None:
    sandbox, api = sb_api
    auth = authenticator(
        sandbox.base_url, client_id=None, refresh_token=None, access_token="static-token-1234"
    )
    assert auth.current_token() == "static-token-1234"
    assert not auth.credential.renew_after_rejection("static-token-1234")
    assert api.tokens_issued == 0


def test_refused_refresh_token_is_one_clear_error(sb_api: Any) -> None:
    sandbox, api = sb_api
    api.revoke_refresh_token()
    auth = authenticator(sandbox.base_url)
    with pytest.raises(SourceAPIError) as raised:
        auth.current_token()
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("Socialboards token: HTTP 400: the refresh token was refused")
    assert "invalid_grant" in message
    assert REFRESH_TOKEN not in message


def test_token_endpoint_outage_is_retried_by_the_stream_then_reported() -> None:
    with Sandbox(seed=3, records=20, faults="outage", vendors=("socialboards",)) as sandbox:
        config = sandbox.tap_config()
        config["max_retries"] = 2
        with pytest.raises(SourceAPIError) as raised:
            run_tap(config)
        served = sandbox.stats()["requests"]
    message = str(raised.value)
    assert "Socialboards token endpoint (POST /token): HTTP 503" in message
    assert "(gave up after 3 attempts)" in message
    assert served == {"POST /token": {"503": 3}}  # the token request retried, nothing else sent
    assert REFRESH_TOKEN not in message


def test_token_endpoint_retry_after_is_waited_out_like_any_request(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(TicketLogsStream, "retry_after_max_seconds", 900.0)
    token_answers = [
        Response(json.dumps({"error": "slow_down"}), 429, {"Retry-After": "1"}),
        Response(json.dumps({"access_token": "token-after-the-wait", "expires_in": 3600})),
    ]
    httpserver.expect_request("/token", method="POST").respond_with_handler(
        lambda request: token_answers.pop(0)
    )
    httpserver.expect_request("/tickets/list", method="POST").respond_with_json(
        {"errorCode": -1, "data": []}
    )
    config = {
        "start_date": "2026-01-01T00:00:00Z",
        "end_date": "2026-01-02T00:00:00Z",
        "socialboards": {
            "base_url": httpserver.url_for("").rstrip("/"),
            "client_id": CLIENT_ID,
            "refresh_token": REFRESH_TOKEN,
        },
    }
    with caplog.at_level(logging.WARNING):
        run_tap(config)
    retries = [
        record.getMessage() for record in caplog.records if "; retry " in record.getMessage()
    ]
    assert len(retries) == 1
    assert "HTTP 429; retry 1 of 8" in retries[0]
    found = re.search(r" in ([0-9.]+) s$", retries[0])
    assert found
    assert 1.0 <= float(found.group(1)) <= 1.1  # the token endpoint's Retry-After
    assert not token_answers
    assert httpserver.log[-1][0].headers["Authorization"] == "Bearer token-after-the-wait"
