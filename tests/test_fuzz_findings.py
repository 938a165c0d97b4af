"""One focused test per bug the fuzzers and the sandbox's fault profiles found."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import requests
from pytest_httpserver import HTTPServer

from tap_ticketlogs.errors import ConfigError
from tap_ticketlogs.http.login_gate import LoginGate
from tap_ticketlogs.http.responses import RetriableResponseError, entries_problem
from tap_ticketlogs.sandbox.server import Sandbox
from tap_ticketlogs.sources.akana.records import body_problem as akana_body_problem
from tap_ticketlogs.sources.socialboards.sandbox import Ticket
from tap_ticketlogs.streams.base import TicketLogsStream
from tap_ticketlogs.tap import TapTicketLogs
from tests.helpers import error_lines, run_cli, run_tap, source_config

TIXNGO_PATH = "/organizer/report/ticket-status-logs"
PAGING = {"akana": {}, "socialboards": {"page_size": 4}, "huawei": {"page_size": 3}}
STREAMS = {
    "akana": ("akana_transaction_logs",),
    "socialboards": ("socialboards_tickets", "socialboards_ticket_logs"),
    "huawei": ("huawei_cases", "huawei_case_operate_logs"),
}


@pytest.mark.parametrize("source", sorted(STREAMS))
def test_credentials_expiring_again_after_a_renewal_are_renewed_again(source: str) -> None:
    """Akana made a session obtained after a 401 fatal when it expired in its turn."""
    with Sandbox(seed=2, records=60, vendors=(source,)) as clean_sandbox:
        clean = run_tap(source_config(clean_sandbox, source, **PAGING[source]))
    with Sandbox(seed=2, records=60, vendors=(source,), faults="expire=3") as sandbox:
        config = source_config(sandbox, source, **PAGING[source])
        # One worker: a credential that dies after 3 uses while more requests are in
        # flight cannot be told from one that never worked (see credentials.py).
        config["max_concurrency"] = 1
        renewed = run_tap(config)
        expired = [e for e in sandbox.request_log if e["status"] == 401]
    assert len(expired) >= 3  # renewed several times, each after the previous one worked
    for stream in STREAMS[source]:
        assert len(renewed.records(stream)) == len(clean.records(stream)) > 0
    assert renewed.final_state == clean.final_state


def test_null_entries_in_a_page_are_named_not_a_traceback() -> None:
    assert akana_body_problem({"TransactionInfo": [None]}) == (
        "'TransactionInfo' holds a JSON null, not an object"
    )
    assert entries_problem("result", [{"id": 1}, 7]) == "'result' holds a JSON int, not an object"
    assert entries_problem("result", None) is None
    assert entries_problem("data", "x") == "'data' is a JSON str, not a list"


def test_a_null_setting_with_a_default_is_refused_by_name() -> None:
    config = {
        "start_date": "2026-01-01T00:00:00Z",
        "lag_minutes": None,
        "tixngo": {"base_url": "https://t.example", "api_key": "k" * 8, "mobile_app_ids": ["a"]},
    }
    with pytest.raises(ConfigError, match=r"setting 'lag_minutes' is null: .*default \(15\)"):
        TapTicketLogs(config=config)
    config["lag_minutes"] = 0
    config["tixngo"]["page_size"] = None  # type: ignore[index]
    with pytest.raises(ConfigError, match=r"setting 'tixngo\.page_size' is null"):
        TapTicketLogs(config=config)


def test_a_wrongly_typed_field_is_the_stream_s_one_line_error(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    httpserver.expect_request(TIXNGO_PATH).respond_with_json(
        {"pagination": {}, "result": [{"ticketId": "T-1", "actionDate": ["not", "a", "date"]}]}
    )
    config = {
        "start_date": "2026-01-01T00:00:00Z",
        "end_date": "2026-01-02T00:00:00Z",
        "max_retries": 0,
        "tixngo": {
            "base_url": httpserver.url_for("").rstrip("/"),
            "api_key": "typed-field-key-1",
            "mobile_app_ids": ["app-1"],
        },
    }
    result = run_cli(config=config, tmp_path=tmp_path)
    assert result.returncode == 1
    (line,) = error_lines(result.stderr)
    assert "TIXNGO tixngo_ticket_status_logs [mobile_app_id=app-1" in line
    assert "a record the tap cannot read" in line
    assert "Traceback" not in result.stderr
    assert "typed-field-key-1" not in result.stderr
    assert '"replication_key_value"' not in result.stdout  # the window was not bookmarked


def test_a_shared_login_waits_out_retry_after_in_every_thread(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/login").respond_with_data(
        "busy", status=429, headers={"Retry-After": "30"}
    )
    sent: list[int] = []
    gate = LoginGate()
    session_lock = threading.Lock()  # as in AkanaSession and the Huawei authenticator

    def login() -> None:
        sent.append(1)
        response = requests.post(httpserver.url_for("/login"), timeout=5)
        raise RetriableResponseError("HTTP 429", response)

    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with session_lock:
                gate.run(login)
        except RetriableResponseError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(errors) == 4  # every worker backs off with the server's answer...
    assert len(sent) == 1  # ...but the login went out once
    assert all(exc.response is not None for exc in errors)


def test_the_socialboards_token_request_waits_out_retry_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(TicketLogsStream, "retry_after_max_seconds", 900.0)
    spec = "429,rate=1,in-a-row=1,retry-after=1"
    with Sandbox(seed=2, records=5, vendors=("socialboards",), faults=spec) as sandbox:
        config: dict[str, Any] = source_config(sandbox, "socialboards")
        config["max_concurrency"] = 1
        config["socialboards"]["ticket_ids"] = [4_484_600]
        run_tap(config)
        token = [e for e in sandbox.request_log if e["route"] == "POST /token"]
    assert [e["status"] for e in token] == [429, 200]
    assert token[1]["at"] - token[0]["at"] >= 1.0


def test_a_ticket_without_its_replication_key_is_the_stream_s_one_line_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A listed ticket without lastThreadElementCreationTime ended in the SDK's KeyError."""
    as_api = Ticket.as_api

    def without_activity_time(ticket: Ticket) -> dict[str, Any]:
        answer = as_api(ticket)
        if ticket.id % 2 == 0:
            answer.pop("lastThreadElementCreationTime")
        return answer

    monkeypatch.setattr(Ticket, "as_api", without_activity_time)
    with Sandbox(seed=4, records=40, vendors=("socialboards",)) as sandbox:
        result = run_cli(config=source_config(sandbox, "socialboards"), tmp_path=tmp_path)
    assert result.returncode == 1
    (line,) = error_lines(result.stderr)
    assert line.startswith("tap-ticketlogs: error: Socialboards socialboards_tickets")
    assert "a record the tap cannot read (KeyError: 'lastThreadElementCreationTime')" in line
    assert "Traceback" not in result.stderr
    assert result.stderr.rstrip().endswith(line)
