"""Akana against the sandbox: exactly once, windows and pages, state, sessions, bad answers."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
import requests

from tap_ticketlogs.sandbox.server import Sandbox
from tap_ticketlogs.sources.akana import sandbox as sandbox_akana
from tap_ticketlogs.sources.akana.sandbox import APP_VERSIONS, AkanaAPI
from tap_ticketlogs.streams import state_throttle
from tap_ticketlogs.timeutil import parse_datetime
from tests.helpers import FakeClock, error_lines, run_cli, run_tap, source_config, vendor_api

STREAM = "akana_transaction_logs"
TXLOGS = "GET /api/apps/versions/{AppVersionID}/txlogs"
LOGIN = "POST /api/login"
CRASFHOCAL, KIOSK, SEASON = APP_VERSIONS


@pytest.fixture
def akana() -> Any:
    with Sandbox(seed=7, records=600, vendors=("akana",)) as running:
        yield running


def api_of(sandbox: Sandbox) -> AkanaAPI:
    return vendor_api(sandbox, "akana", AkanaAPI)


def akana_config(sandbox: Sandbox, **section: Any) -> dict[str, Any]:
    return source_config(sandbox, "akana", **section)


def truth(
    api: AkanaAPI,
    apps: list[str],
    start: dt.datetime,
    end: dt.datetime,
    **filters: Any,
) -> dict[str, dt.datetime]:
    """TransactionID -> UTC time, for what the tap should emit."""
    return {
        tx.fields["TransactionID"]: tx.when
        for app in apps
        for tx in api.matching(app, start, end, **filters)
    }


@pytest.mark.parametrize(
    ("page_size", "window_hours", "concurrency"),
    [(7, 30, 8), (1000, 24, 1), (2, 2, 8)],
)
def test_every_transaction_arrives_exactly_once(
    akana: Sandbox, page_size: int, window_hours: int, concurrency: int
) -> None:
    apps = [CRASFHOCAL, SEASON]  # two app versions
    config = akana_config(
        akana, page_size=page_size, window_hours=window_hours, app_version_ids=apps
    )
    config["max_concurrency"] = concurrency
    output = run_tap(config)

    api = api_of(akana)
    expected = truth(api, apps, api.start, api.until)
    emitted = [record["TransactionID"] for record in output.records(STREAM)]
    assert len(expected) > 300
    assert len(emitted) == len(set(emitted)), "a transaction was emitted twice"
    assert set(emitted) == set(expected)
    served = akana.stats()["requests"][TXLOGS]
    windows = len(apps) * -(-30 * 24 // window_hours)
    if page_size < 10:
        assert served["200"] + served.get("204", 0) > windows  # several pages per window
        assert served.get("204", 0) > 0  # a full last page (or empty window) gives a 204
    else:
        assert served["200"] + served.get("204", 0) == windows
    if window_hours == 2:
        # Transactions exactly on a window bound, which the sandbox returns in both
        # windows (inclusive EndDate): each must still arrive once.
        width = dt.timedelta(hours=window_hours)
        on_bounds = [
            when for when in expected.values() if (when - api.start) % width == dt.timedelta(0)
        ]
        assert len(on_bounds) >= 3


def test_records_are_normalised(akana: Sandbox) -> None:
    api = api_of(akana)
    tx = next(tx for tx in api.transactions[KIOSK] if tx.environment == "Production")
    tx.fields["CorrelationID"] = "corr-1"  # a field a later platform version might add
    output = run_tap(akana_config(akana, app_version_ids=[KIOSK]))
    by_id = {record["TransactionID"]: record for record in output.records(STREAM)}
    times = truth(api, [KIOSK], api.start, api.until)
    assert set(by_id) == set(times)
    for transaction_id, record in by_id.items():
        assert record["RequestDateTime"].endswith("Z")
        assert parse_datetime(record["RequestDateTime"]) == times[transaction_id]
        assert record["AppVersionID"] == KIOSK
        assert isinstance(record["ResponseStatusCode"], int)
        assert isinstance(record["ResponseMessageSize"], int)
        assert re.fullmatch(r"P0Y0M0DT\d+H\d+M\d+\.\d{3}S", record["ResponseTime"])
        assert isinstance(record["response_time_ms"], int)
        assert record["api_response_time_ms"] <= record["response_time_ms"]
    assert by_id[tx.fields["TransactionID"]]["CorrelationID"] == "corr-1"
    schema = output.schema(STREAM)
    assert schema["key_properties"] == ["TransactionID"]
    assert schema["bookmark_properties"] == ["RequestDateTime"]


def test_requests_name_their_window_in_gmt(akana: Sandbox) -> None:
    run_tap(akana_config(akana, app_version_ids=[KIOSK], window_hours=240, page_size=50))
    queries = api_of(akana).queries
    assert queries
    for query in queries:
        assert query["TimeZone"] == ["GMT"]
        assert query["Environment"] == ["Production"]
        assert query["count"] == ["50"]
        assert "Duration" not in query
        assert "ContractID" not in query
    windows = sorted({(q["StartDate"][0], q["EndDate"][0]) for q in queries})
    assert windows == [
        ("2026-01-01T00:00:00", "2026-01-11T00:00:00"),
        ("2026-01-11T00:00:00", "2026-01-21T00:00:00"),
        ("2026-01-21T00:00:00", "2026-01-31T00:00:00"),
    ]


def test_environment_and_contract_select_transactions(akana: Sandbox) -> None:
    contract = "contract-crosfhocal-tickets"
    config = akana_config(
        akana, app_version_ids=[CRASFHOCAL], environment="Sandbox", contract_id=contract
    )
    output = run_tap(config)
    api = api_of(akana)
    expected = truth(
        api, [CRASFHOCAL], api.start, api.until, environment="Sandbox", contract_id=contract
    )
    assert expected
    assert sorted(r["TransactionID"] for r in output.records(STREAM)) == sorted(expected)
    assert {r["APIName"] for r in output.records(STREAM)} == {"ACME Ticketing API"}


def test_second_run_with_state_returns_only_newer_transactions(akana: Sandbox) -> None:
    config = akana_config(akana)
    first = run_tap(config)
    state = first.final_state
    partitions = state["bookmarks"][STREAM]["partitions"]
    assert {p["context"]["app_version_id"] for p in partitions} == set(APP_VERSIONS)
    assert {p["replication_key_value"] for p in partitions} == {config["end_date"]}

    before = akana.stats()["requests"][TXLOGS]
    assert run_tap(config, state=state).records(STREAM) == []
    assert akana.stats()["requests"][TXLOGS] == before  # nothing left to ask for

    api = api_of(akana)
    old_until = api.until
    api.append(120)
    config["end_date"] = api.until.strftime("%Y-%m-%dT%H:%M:%SZ")
    newer = run_tap(config, state=state)
    emitted = sorted(record["TransactionID"] for record in newer.records(STREAM))
    assert emitted == sorted(truth(api, list(APP_VERSIONS), old_until, api.until))
    assert len(emitted) == 120
    for record in newer.records(STREAM):
        assert parse_datetime(record["RequestDateTime"]) >= old_until


@pytest.mark.parametrize("interval", [0, 1])
def test_resuming_from_a_mid_run_state_loses_nothing(
    akana: Sandbox, monkeypatch: pytest.MonkeyPatch, interval: int
) -> None:
    # 0: a STATE after every window; 1 s on a clock 0.4 s faster per reading: one in three.
    monkeypatch.setattr(state_throttle, "_monotonic", FakeClock(step=0.4))
    config = akana_config(akana, window_hours=72)
    config["state_interval_seconds"] = interval
    full = run_tap(config)
    messages = full.messages
    cut = [i for i, m in enumerate(messages) if m["type"] == "STATE"][6]
    before = {m["record"]["TransactionID"] for m in messages[:cut] if m["type"] == "RECORD"}
    resumed = run_tap(config, state=messages[cut]["value"])
    after = {record["TransactionID"] for record in resumed.records(STREAM)}
    assert before | after == {record["TransactionID"] for record in full.records(STREAM)}
    assert before.isdisjoint(after)


def test_configured_cookie_and_csrf_header(akana: Sandbox) -> None:
    config = akana_config(
        akana,
        email=None,
        password=None,
        auth_token=sandbox_akana.STATIC_TOKEN,
        csrf_token=sandbox_akana.STATIC_CSRF,
    )
    output = run_tap(config)
    assert len(output.records(STREAM)) == 600
    assert LOGIN not in akana.stats()["requests"]


def test_wrong_csrf_header_is_a_rejected_session(akana: Sandbox, tmp_path: Any) -> None:
    wrong = "TokenID%3Dnot-the-csrf-token"
    config = akana_config(
        akana, email=None, password=None, auth_token=sandbox_akana.STATIC_TOKEN, csrf_token=wrong
    )
    result = run_cli(config=config, tmp_path=tmp_path)
    assert result.returncode == 1
    (line,) = error_lines(result.stderr)
    assert "HTTP 401" in line
    assert "Akana rejected the session" in line
    assert wrong not in result.stderr + result.stdout
    assert sandbox_akana.STATIC_TOKEN not in result.stderr + result.stdout


def test_expired_cookie_without_login_fails_in_one_line(akana: Sandbox, tmp_path: Any) -> None:
    expired = "TokenID%3Dexpired-0123456789%2CexpirationTime%3D1"
    config = akana_config(akana, email=None, password=None, auth_token=expired)
    result = run_cli(config=config, tmp_path=tmp_path)
    assert result.returncode == 1
    (line,) = error_lines(result.stderr)
    assert "Akana akana_transaction_logs" in line
    assert "HTTP 401" in line
    assert "Akana rejected the session" in line
    assert "app_version_id=" in line
    assert expired not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_rejected_cookie_logs_in_once_then_succeeds(akana: Sandbox) -> None:
    config = akana_config(akana, auth_token="TokenID%3Dexpired-0123456789")
    config["max_concurrency"] = 8
    output = run_tap(config)
    assert len({r["TransactionID"] for r in output.records(STREAM)}) == 600
    requests_served = akana.stats()["requests"]
    assert requests_served[LOGIN] == {"200": 1}  # one login, though several threads got 401
    assert requests_served[TXLOGS]["401"] >= 1


def test_session_expiring_mid_run_is_replaced(akana: Sandbox) -> None:
    api = api_of(akana)
    api.expire_sessions_after = 20
    config = akana_config(akana, page_size=25)
    config["max_concurrency"] = 4
    output = run_tap(config)
    emitted = [r["TransactionID"] for r in output.records(STREAM)]
    assert len(emitted) == len(set(emitted)) == 600
    requests_served = akana.stats()["requests"]
    assert requests_served[LOGIN] == {"200": 2}
    assert requests_served[TXLOGS]["401"] >= 1


def test_no_secret_reaches_the_output_of_a_run(akana: Sandbox, tmp_path: Any) -> None:
    api = api_of(akana)
    api.expire_sessions_after = 5  # a login, a 401 and a second login during the run
    # Every logger at DEBUG (urllib3's connection lines included).
    log_config = tmp_path / "logging.yml"
    log_config.write_text(
        "version: 1\ndisable_existing_loggers: false\n"
        "handlers: {console: {class: logging.StreamHandler, stream: ext://sys.stderr}}\n"
        "root: {level: DEBUG, handlers: [console]}\n"
    )
    result = run_cli(
        config=akana_config(akana, page_size=50),
        tmp_path=tmp_path,
        env={"SINGER_SDK_LOG_CONFIG": str(log_config)},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert akana.stats()["requests"][LOGIN] == {"200": 2}
    assert '"POST /api/login HTTP/1.1" 200' in result.stderr  # debug lines were written
    secrets = [sandbox_akana.PASSWORD, *api.issued_tokens()]
    assert len(secrets) > 4
    for secret in secrets:
        assert secret not in result.stderr
        assert secret not in result.stdout


def test_session_rejected_after_relogin_fails_in_one_line(akana: Sandbox, tmp_path: Any) -> None:
    # The sandbox runs in this process; the CLI in another one, so use the in-process run.
    api_of(akana).reject_all_sessions = True
    with pytest.raises(Exception, match="even after logging in again") as raised:
        run_tap(akana_config(akana))
    message = str(raised.value)
    assert "HTTP 401" in message
    assert "\n" not in message
    assert sandbox_akana.PASSWORD not in message
    assert akana.stats()["requests"][LOGIN] == {"200": 2}


def test_wrong_password_fails_in_one_line(akana: Sandbox, tmp_path: Any) -> None:
    result = run_cli(config=akana_config(akana, password="wrong-password-123"), tmp_path=tmp_path)
    assert result.returncode == 1
    (line,) = error_lines(result.stderr)
    assert "Akana rejected the login" in line
    assert "HTTP 401" in line
    assert "wrong-password-123" not in result.stderr + result.stdout


def test_persistent_500_names_app_version_and_window(akana: Sandbox) -> None:
    api_of(akana).fail_status[SEASON] = 500
    config = akana_config(akana, app_version_ids=[SEASON])
    config["max_retries"] = 1
    with pytest.raises(Exception, match="HTTP 500") as raised:
        run_tap(config)
    message = str(raised.value)
    assert f"app_version_id={SEASON}" in message
    assert "window_start=2026-01-01T00:00:00Z" in message
    assert "window_end=2026-01-02T00:00:00Z" in message
    assert "gave up after 2 attempts" in message


def test_xml_answer_fails_at_once(akana: Sandbox) -> None:
    api_of(akana).ignore_accept = True
    config = akana_config(akana, app_version_ids=[KIOSK])
    config["max_concurrency"] = 1
    with pytest.raises(Exception, match="answered with XML") as raised:
        run_tap(config)
    assert "text/xml" in str(raised.value)
    assert akana.stats()["requests"][TXLOGS] == {"200": 1}  # not retried


def test_html_answer_is_retried_then_fails_clearly(akana: Sandbox) -> None:
    api_of(akana).html_body = True
    config = akana_config(akana, app_version_ids=[KIOSK])
    config["max_retries"] = 2
    config["max_concurrency"] = 1
    with pytest.raises(Exception, match=r"not JSON \(text/html\)") as raised:
        run_tap(config)
    assert "gave up after 3 attempts" in str(raised.value)
    assert f"app_version_id={KIOSK}" in str(raised.value)
    assert akana.stats()["requests"][TXLOGS] == {"200": 3}


def test_transient_faults_are_retried_without_loss() -> None:
    with Sandbox(seed=11, records=400, faults="flaky", vendors=("akana",)) as sandbox:
        config = akana_config(sandbox, page_size=20)
        config["max_concurrency"] = 4
        output = run_tap(config)
        emitted = [record["TransactionID"] for record in output.records(STREAM)]
        api = api_of(sandbox)
        assert len(emitted) == len(set(emitted)) == 400
        assert set(emitted) == set(truth(api, list(APP_VERSIONS), api.start, api.until))


def test_sandbox_is_strict_where_the_vendor_is(akana: Sandbox) -> None:
    url = f"{akana.base_url}/api/apps/versions/{KIOSK}/txlogs"
    cookie = {"Cookie": f"{sandbox_akana.COOKIE}={sandbox_akana.STATIC_TOKEN}"}
    assert requests.get(url, timeout=5).status_code == 401
    assert requests.get(url, params={"count": 1001}, headers=cookie, timeout=5).status_code == 400
    empty = {"StartDate": "2020-01-01T00:00:00", "EndDate": "2020-01-02T00:00:00"}
    assert requests.get(url, params=empty, headers=cookie, timeout=5).status_code == 204
    window = {
        "StartDate": "2026-01-01T00:00:00",
        "EndDate": "2026-01-31T00:00:00",
        "TimeZone": "America/New_York",
        "count": 5,
    }
    answer = requests.get(url, params=window, headers=cookie, timeout=5)
    assert answer.status_code == 200
    body = answer.json()
    (items,) = body.values()
    assert len(items) == 5
    assert all(item["RequestDateTime"].endswith("-05:00") for item in items)
    stamps = [parse_datetime(item["RequestDateTime"]) for item in items]
    assert stamps == sorted(stamps, reverse=True)  # most recent first
    xml = requests.get(url, params=window, headers={**cookie, "Accept": "text/xml"}, timeout=5)
    assert xml.headers["Content-Type"] == "text/xml"
    assert xml.text.startswith("<?xml")
