"""Credentials never follow a redirect to another host; same-host redirects keep working.

Every source and auth scheme runs against a front server on 127.0.0.1 that redirects one
kind of request (the login or token POST, or the data request) to a recording server on
127.0.0.2. The recorder must receive nothing: no header, cookie or body byte of a secret.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tap_ticketlogs.errors import SourceAPIError
from tap_ticketlogs.http.session import CredentialSafeSession, RefusedRequestError
from tap_ticketlogs.sandbox.server import Sandbox
from tap_ticketlogs.sources.akana import sandbox as akana_sandbox
from tap_ticketlogs.sources.akana.auth import AkanaSession
from tap_ticketlogs.sources.huawei import sandbox as huawei_sandbox
from tap_ticketlogs.sources.huawei.auth import huawei_authenticator
from tap_ticketlogs.sources.socialboards import sandbox as sb_sandbox
from tap_ticketlogs.sources.socialboards.streams import SocialboardsTicketsStream
from tap_ticketlogs.sources.tixngo import sandbox as tixngo_sandbox
from tap_ticketlogs.tap import TapTicketLogs
from tests.helpers import error_lines, run_cli, run_tap, source_config
from tests.redirect_servers import Front, Received, Recorder

REDIRECT_STATUSES = (301, 302, 303, 307, 308)


def _is_login(request: Received) -> bool:
    return request.method == "POST" and request.path.split("?")[0] in (
        akana_sandbox.LOGIN_PATH,
        sb_sandbox.TOKEN_PATH,
        huawei_sandbox.TOKENS_PATH,
    )


def _is_data(request: Received) -> bool:
    return not _is_login(request)


@dataclass(frozen=True)
class Scheme:
    """One way a source authenticates, and which of its requests the front redirects."""

    source: str
    section: Callable[[Sandbox], dict[str, Any]]
    redirect: Callable[[Received], bool]
    streams: tuple[str, ...]


def _tixngo(scheme: str, header: str = "Authorization") -> Callable[[Sandbox], dict[str, Any]]:
    """The sandbox's account accepts the key one way only: tell it which, then the tap."""

    def section(sandbox: Sandbox) -> dict[str, Any]:
        api = sandbox.vendors["tixngo"]
        assert isinstance(api, tixngo_sandbox.TixngoAPI)
        api.auth_scheme, api.auth_header = scheme, header
        return api.config_section(sandbox.base_url) | {"base_url": sandbox.base_url}

    return section


def _huawei_token(sandbox: Sandbox) -> dict[str, Any]:
    api = sandbox.vendors["huawei"]
    assert isinstance(api, huawei_sandbox.HuaweiAPI)
    return {"auth_token": api.issue_token(), "iam_url": None, "password": None}


TIXNGO = ("tixngo_ticket_status_logs",)
AKANA = ("akana_transaction_logs",)
SOCIALBOARDS = ("socialboards_tickets", "socialboards_ticket_logs")
HUAWEI = ("huawei_cases", "huawei_case_operate_logs")

SCHEMES: dict[str, Scheme] = {
    "tixngo-bearer": Scheme("tixngo", _tixngo("bearer"), _is_data, TIXNGO),
    "tixngo-header": Scheme("tixngo", _tixngo("header", "X-Api-Key"), _is_data, TIXNGO),
    "tixngo-basic": Scheme("tixngo", _tixngo("basic"), _is_data, TIXNGO),
    "akana-cookie-csrf": Scheme(
        "akana",
        lambda _: {
            "auth_token": akana_sandbox.STATIC_TOKEN,
            "csrf_token": akana_sandbox.STATIC_CSRF,
            "email": None,
            "password": None,
        },
        _is_data,
        AKANA,
    ),
    "akana-login-post": Scheme("akana", lambda _: {}, _is_login, AKANA),
    "akana-login-then-data": Scheme("akana", lambda _: {}, _is_data, AKANA),
    "socialboards-refresh-post": Scheme("socialboards", lambda _: {}, _is_login, SOCIALBOARDS),
    "socialboards-refreshed-token": Scheme("socialboards", lambda _: {}, _is_data, SOCIALBOARDS),
    "socialboards-access-token": Scheme(
        "socialboards",
        lambda _: {
            "access_token": sb_sandbox.STATIC_ACCESS_TOKEN,
            "refresh_token": None,
            "client_id": None,
        },
        _is_data,
        SOCIALBOARDS,
    ),
    "huawei-x-auth-token": Scheme("huawei", _huawei_token, _is_data, HUAWEI),
    "huawei-iam-login-post": Scheme("huawei", lambda _: {}, _is_login, HUAWEI),
    "huawei-iam-token-then-data": Scheme("huawei", lambda _: {}, _is_data, HUAWEI),
}


def every_secret(sandbox: Sandbox) -> list[str]:
    """Every credential the tap could hold: configured ones and every token issued so far."""
    basic = base64.b64encode(f"{tixngo_sandbox.EMAIL}:{tixngo_sandbox.API_KEY}".encode())
    akana = sandbox.vendors["akana"]
    socialboards = sandbox.vendors["socialboards"]
    huawei = sandbox.vendors["huawei"]
    assert isinstance(akana, akana_sandbox.AkanaAPI)
    assert isinstance(socialboards, sb_sandbox.SocialboardsAPI)
    assert isinstance(huawei, huawei_sandbox.HuaweiAPI)
    return [
        tixngo_sandbox.API_KEY,
        basic.decode(),
        akana_sandbox.PASSWORD,
        akana_sandbox.STATIC_TOKEN,
        akana_sandbox.STATIC_CSRF,
        *akana.issued_tokens(),
        sb_sandbox.REFRESH_TOKEN,
        sb_sandbox.STATIC_ACCESS_TOKEN,
        *socialboards._tokens,
        huawei_sandbox.PASSWORD,
        *huawei._tokens,
    ]


@pytest.fixture(scope="module")
def small_sandbox() -> Iterator[Sandbox]:
    with Sandbox(seed=3, records=40) as running:
        yield running


def front_config(sandbox: Sandbox, scheme: Scheme, front: Front) -> dict[str, Any]:
    config = source_config(sandbox, scheme.source, **scheme.section(sandbox))
    section = config[scheme.source]
    section["base_url"] = front.base_url
    if section.get("iam_url"):
        section["iam_url"] = front.base_url
    return config


@pytest.mark.parametrize("status", REDIRECT_STATUSES)
@pytest.mark.parametrize("scheme_name", sorted(SCHEMES))
def test_no_secret_reaches_the_other_host(
    small_sandbox: Sandbox, scheme_name: str, status: int
) -> None:
    scheme = SCHEMES[scheme_name]
    with (
        Recorder() as recorder,
        Front(
            small_sandbox.base_url, redirect=scheme.redirect, status=status, target=None
        ) as front,
    ):
        front.target = recorder.base_url
        config = front_config(small_sandbox, scheme, front)
        with pytest.raises(SourceAPIError) as raised:
            run_tap(config)

    assert front.redirected >= 1, "the scenario never reached the redirect"
    assert recorder.secrets_seen(every_secret(small_sandbox)) == []
    assert recorder.received == [], "a request was sent to the other host"
    message = str(raised.value)
    assert "\n" not in message
    assert f"HTTP {status}" in message
    assert "127.0.0.2" in message
    assert "refused" in message
    assert not [secret for secret in every_secret(small_sandbox) if secret in message]


def test_the_cli_reports_a_refused_redirect_in_one_line(
    small_sandbox: Sandbox, tmp_path: Any
) -> None:
    scheme = SCHEMES["huawei-iam-login-post"]
    with (
        Recorder() as recorder,
        Front(small_sandbox.base_url, redirect=scheme.redirect, status=307, target=None) as front,
    ):
        front.target = recorder.base_url
        result = run_cli(config=front_config(small_sandbox, scheme, front), tmp_path=tmp_path)
    assert result.returncode == 1
    assert recorder.received == []
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert "Huawei" in lines[0]
    assert "127.0.0.2" in lines[0]
    assert "Traceback" not in result.stderr
    assert huawei_sandbox.PASSWORD not in result.stderr + result.stdout


@pytest.mark.parametrize("status", [307, 308])
@pytest.mark.parametrize("scheme_name", sorted(SCHEMES))
def test_same_host_redirects_are_followed_with_credentials(
    small_sandbox: Sandbox, scheme_name: str, status: int
) -> None:
    """Every request of the run is redirected once on the same host: nothing changes."""
    scheme = SCHEMES[scheme_name]
    clean = run_tap(source_config(small_sandbox, scheme.source, **scheme.section(small_sandbox)))
    with Front(
        small_sandbox.base_url, redirect=lambda _: True, status=status, target=None
    ) as front:
        moved = run_tap(front_config(small_sandbox, scheme, front))
    assert front.redirected >= 1
    assert len(front.hops_received) == front.redirected
    for stream in scheme.streams:
        expected = clean.records(stream)
        assert expected, f"the sandbox holds no {stream} records"
        assert _keyed(moved.records(stream)) == _keyed(expected)
    assert moved.final_state == clean.final_state


def _keyed(records: list[dict[str, Any]]) -> dict[str, str]:
    keys = ("log_key", "TransactionID", "id", "incident_log_id", "incidentId")
    return {
        json.dumps([record.get(key) for key in keys]): json.dumps(record, sort_keys=True)
        for record in records
    }


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("http://example.invalid/elsewhere", "http://example.invalid:80"),
        ("https://example.invalid/elsewhere", "https://example.invalid:443"),
        ("http://127.0.0.1:1/other-port", "http://127.0.0.1:1"),
    ],
)
def test_redirects_off_origin_are_refused_before_any_connection(
    location: str, expected: str
) -> None:
    with Front("http://127.0.0.1:9", redirect=lambda _: True, status=302, target=None) as front:
        session = CredentialSafeSession()

        def redirect_to(request: Received) -> tuple[int, list[tuple[str, str]], bytes]:
            return 302, [("Location", location)], b""

        front.answer = redirect_to  # type: ignore[method-assign]
        with pytest.raises(RefusedRequestError, match="refused an HTTP 302 redirect") as raised:
            session.get(front.base_url + "/start", headers={"X-Auth-Token": "t"}, timeout=5)
    assert expected in raised.value.detail
    assert "/elsewhere" not in raised.value.detail  # paths and queries may carry secrets


def test_plain_http_is_refused_off_loopback_and_verification_stays_on() -> None:
    session = CredentialSafeSession()
    with pytest.raises(RefusedRequestError, match="not https"):
        session.get("http://example.invalid/", timeout=5)
    with pytest.raises(RefusedRequestError, match="verification cannot be turned off"):
        session.get("https://example.invalid/", timeout=5, verify=False)
    session.verify = False
    with pytest.raises(RefusedRequestError, match="verification cannot be turned off"):
        session.get("https://example.invalid/", timeout=5)


def test_every_request_of_the_tap_goes_through_the_safe_session(small_sandbox: Sandbox) -> None:
    """A new place that sends requests with a plain session would escape the policy."""
    config = small_sandbox.tap_config()
    tap = TapTicketLogs(config=config)
    streams = list(tap.streams.values())
    assert streams
    for stream in streams:
        assert isinstance(stream.requests_session, CredentialSafeSession), stream.name
    akana = AkanaSession.from_section(config["akana"], timeout=5)
    assert isinstance(akana._http, CredentialSafeSession)
    huawei = huawei_authenticator(config["huawei"], timeout=5)
    assert isinstance(huawei._login._session, CredentialSafeSession)  # type: ignore[union-attr]
    tickets = tap.streams["socialboards_tickets"]
    assert isinstance(tickets, SocialboardsTicketsStream)
    assert isinstance(tickets.authenticator._http, CredentialSafeSession)


def test_a_redirected_akana_renewal_sends_nothing_elsewhere(small_sandbox: Sandbox) -> None:
    """renewToken (cookie + CSRF header) is only sent after 25 minutes: a clock moves it."""
    now = [dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)]

    def is_renewal(request: Received) -> bool:
        return request.path.startswith(akana_sandbox.RENEW_PATH)

    with (
        Recorder() as recorder,
        Front(small_sandbox.base_url, redirect=is_renewal, status=307, target=None) as front,
    ):
        front.target = recorder.base_url
        section = {**small_sandbox.tap_config()["akana"], "base_url": front.base_url}
        session = AkanaSession.from_section(section, timeout=5)
        session._clock = lambda: now[0]
        session.ensure_fresh()  # logs in through the front
        now[0] += dt.timedelta(minutes=26)
        with pytest.raises(RefusedRequestError, match=r"127\.0\.0\.2"):
            session.ensure_fresh()  # renewal due: redirected, refused
    assert front.redirected == 1
    assert recorder.received == []
    assert recorder.secrets_seen(every_secret(small_sandbox)) == []
