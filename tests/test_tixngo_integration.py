"""TIXNGO against the sandbox: exactly once, filters, auth, incremental state, faults."""

from __future__ import annotations

import copy
import datetime as dt
import io
import re
import signal
from contextlib import redirect_stdout
from typing import Any

import pytest
import requests

from tap_ticketlogs.errors import SourceAPIError
from tap_ticketlogs.http.responses import RetriableResponseError
from tap_ticketlogs.sandbox.server import Sandbox
from tap_ticketlogs.sources.tixngo.sandbox import EMAIL, MOBILE_APPS, TixngoAPI
from tap_ticketlogs.streams import state_throttle
from tap_ticketlogs.streams.base import TicketLogsStream
from tap_ticketlogs.streams.records import log_key
from tap_ticketlogs.tap import TapTicketLogs
from tap_ticketlogs.timeutil import parse_datetime
from tests.helpers import (
    FakeClock,
    TapOutput,
    error_lines,
    interrupted_run,
    run_cli,
    run_tap,
    source_config,
    vendor_api,
)

STREAM = "tixngo_ticket_status_logs"
PATH_LABEL = "GET /organizer/report/ticket-status-logs"


def tixngo_config(sandbox: Sandbox, **section: Any) -> dict[str, Any]:
    return source_config(sandbox, "tixngo", **section)


def truth_keys(
    api: TixngoAPI, start: dt.datetime, end: dt.datetime, request: Any = None
) -> list[str]:
    return [
        log_key(entry, app)
        for app in MOBILE_APPS
        for entry in api.matching(app, start, end, request)
    ]


def api_of(sandbox: Sandbox) -> TixngoAPI:
    return vendor_api(sandbox, "tixngo", TixngoAPI)


@pytest.mark.parametrize("concurrency", [1, 8])
@pytest.mark.parametrize("page_size", [7, 10_000])
def test_every_entry_arrives_exactly_once(
    sandbox: Sandbox, concurrency: int, page_size: int
) -> None:
    config = tixngo_config(sandbox, page_size=page_size, window_hours=30)
    config["max_concurrency"] = concurrency
    output = run_tap(config)

    records = output.records(STREAM)
    emitted = [record["log_key"] for record in records]
    api = api_of(sandbox)
    expected = truth_keys(api, api.start, api.until)
    assert len(expected) == 600
    assert len(emitted) == len(set(emitted)), "an entry was emitted twice"
    assert set(emitted) == set(expected)
    # Paging really happened across page and window boundaries.
    served = sandbox.stats()["requests"][PATH_LABEL]["200"]
    windows = len(MOBILE_APPS) * 24  # 24 windows of 30 h per app
    assert served > windows if page_size < 600 / windows else served == windows
    for record in records:
        assert record["mobileAppId"] in MOBILE_APPS
        assert record["actionDate"].endswith("Z")


def test_fields_unknown_to_the_schema_are_kept() -> None:
    api = TixngoAPI(seed=2, records=60, undocumented_fields=True)
    with Sandbox(vendors=("tixngo",), apis={"tixngo": api}) as sandbox:
        output = run_tap(tixngo_config(sandbox))
    records = output.records(STREAM)
    assert len(records) == 60
    assert "seatSection" not in output.schema(STREAM)["schema"]["properties"]
    assert all(record["seatSection"]["row"] == 12 for record in records)


# RFC 3339 in UTC as the tap writes it: "Z", never a numeric offset (not even +00:00).
UTC_DATE_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


def test_times_are_normalised_to_utc(sandbox: Sandbox) -> None:
    api = api_of(sandbox)
    truth = {log_key(entry, app): when for app in MOBILE_APPS for when, entry in api.entries[app]}
    served = {entry["actionDate"][-6:] for app in MOBILE_APPS for _, entry in api.entries[app]}
    assert {"+01:00", "-05:00", "+00:00"} <= served  # the API writes each app's local time
    records = run_tap(tixngo_config(sandbox)).records(STREAM)
    assert len(records) == len(truth) == 600
    for record in records:
        assert UTC_DATE_TIME.fullmatch(record["actionDate"]), record["actionDate"]
        assert parse_datetime(record["actionDate"]) == truth[record["log_key"]]


def test_second_run_with_state_requests_only_newer_windows(sandbox: Sandbox) -> None:
    config = tixngo_config(sandbox)
    first = run_tap(config)
    state = first.final_state
    bookmarks = state["bookmarks"][STREAM]["partitions"]
    assert {p["context"]["mobile_app_id"] for p in bookmarks} == set(MOBILE_APPS)
    assert {p["replication_key_value"] for p in bookmarks} == {config["end_date"]}

    requests_before = sandbox.stats()["requests"][PATH_LABEL]["200"]
    again = run_tap(config, state=state)
    assert again.records(STREAM) == []
    assert sandbox.stats()["requests"][PATH_LABEL]["200"] == requests_before

    api = api_of(sandbox)
    old_until = api.until
    api.append(90)
    config["end_date"] = api.until.strftime("%Y-%m-%dT%H:%M:%SZ")
    newer = run_tap(config, state=state)
    emitted = [record["log_key"] for record in newer.records(STREAM)]
    assert sorted(emitted) == sorted(truth_keys(api, old_until, api.until))
    assert len(emitted) == 90
    # One day of new data in 24 h windows: one window per app.
    assert sandbox.stats()["requests"][PATH_LABEL]["200"] == requests_before + len(MOBILE_APPS)


@pytest.mark.parametrize("interval", [0, 1])
def test_resuming_from_a_mid_run_state_loses_nothing(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, interval: int
) -> None:
    # 0: a STATE after every window; 1 s on a clock 0.4 s faster per reading: one in three.
    monkeypatch.setattr(state_throttle, "_monotonic", FakeClock(step=0.4))
    config = tixngo_config(sandbox, window_hours=72)
    config["state_interval_seconds"] = interval
    full = run_tap(config)
    # Replay as if killed right after the fifth STATE message.
    messages = full.messages
    state_positions = [i for i, m in enumerate(messages) if m["type"] == "STATE"]
    cut = state_positions[4]
    before = {m["record"]["log_key"] for m in messages[:cut] if m["type"] == "RECORD"}
    resumed = run_tap(config, state=messages[cut]["value"])
    after = {record["log_key"] for record in resumed.records(STREAM)}
    everything = {record["log_key"] for record in full.records(STREAM)}
    assert before | after == everything
    assert before.isdisjoint(after), "a window before the bookmark was read again"


def test_filters_are_sent_as_the_api_expects(sandbox: Sandbox) -> None:
    config = tixngo_config(
        sandbox,
        action_names=["Download", "Scan"],
        to_statuses=["DOWNLOADED", "SCANNED"],
        actor="MOBILE_APP",
    )
    output = run_tap(config)
    records = output.records(STREAM)
    assert records
    assert {r["actionName"] for r in records} == {"Download"}  # Scan is done by ACCESS_CONTROL
    api = api_of(sandbox)
    expected = [
        log_key(entry, app)
        for app in MOBILE_APPS
        for _, entry in api.entries[app]
        if entry["actionName"] in ("Download", "Scan")
        and entry["toStatus"] in ("DOWNLOADED", "SCANNED")
        and entry["actor"] == "MOBILE_APP"
    ]
    assert sorted(r["log_key"] for r in records) == sorted(expected)


AUTH_ACCOUNTS = [
    pytest.param("bearer", "Authorization", id="bearer"),
    pytest.param("header", "X-Api-Key", id="header"),
    pytest.param("basic", "Authorization", id="basic"),
]
# A tap section for every way of sending the key: each is refused by every account that
# expects it another way.
KEY_SENT_AS = {
    "bearer": {"auth_scheme": "bearer"},
    "raw Authorization": {"auth_scheme": "header", "auth_header": "Authorization"},
    "X-Api-Key": {"auth_scheme": "header", "auth_header": "X-Api-Key"},
    "X-Other-Key": {"auth_scheme": "header", "auth_header": "X-Other-Key"},
    "basic": {"auth_scheme": "basic", "email": EMAIL},
}
ACCEPTED_BY = {"bearer": "bearer", "header": "X-Api-Key", "basic": "basic"}


@pytest.mark.parametrize(("scheme", "header"), AUTH_ACCOUNTS)
def test_auth_schemes(scheme: str, header: str) -> None:
    api = TixngoAPI(seed=7, records=120, auth_scheme=scheme, auth_header=header)
    accepted: list[str] = []
    refused_with: list[int | None] = []
    with Sandbox(vendors=("tixngo",), apis={"tixngo": api}) as sandbox:
        for sent_as, section in KEY_SENT_AS.items():
            try:
                output = run_tap(tixngo_config(sandbox, **section))
            except SourceAPIError as refused:
                refused_with.append(refused.status)
                continue
            accepted.append(sent_as)
            assert len(output.records(STREAM)) == 120
    assert refused_with == [401] * (len(KEY_SENT_AS) - 1)
    assert accepted == [ACCEPTED_BY[scheme]]


def test_rejected_key_is_one_line_without_the_key(sandbox: Sandbox, tmp_path: Any) -> None:
    wrong = "wrong-key-0123456789"
    result = run_cli(config=tixngo_config(sandbox, api_key=wrong), tmp_path=tmp_path)
    assert result.returncode == 1
    lines = error_lines(result.stderr)
    assert len(lines) == 1
    assert "TIXNGO" in lines[0]
    assert "HTTP 401" in lines[0]
    assert "rejected the credentials" in lines[0]
    assert "mobile_app_id=app-worldcup-2026" in lines[0]
    assert wrong not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_unknown_mobile_app_names_the_partition(sandbox: Sandbox, tmp_path: Any) -> None:
    config = tixngo_config(sandbox, mobile_app_ids=["app-does-not-exist"])
    result = run_cli(config=config, tmp_path=tmp_path)
    assert result.returncode == 1
    (line,) = error_lines(result.stderr)
    assert "mobile_app_id=app-does-not-exist" in line
    assert "HTTP 404" in line
    assert "window_start=2026-01-01T00:00:00Z" in line


def test_transient_faults_are_retried_without_loss() -> None:
    with Sandbox(seed=11, records=600, faults="flaky") as sandbox:
        config = tixngo_config(sandbox, page_size=25)
        config["max_concurrency"] = 4
        output = run_tap(config)
        emitted = [record["log_key"] for record in output.records(STREAM)]
        api = api_of(sandbox)
        assert len(emitted) == len(set(emitted)) == 600
        assert set(emitted) == set(truth_keys(api, api.start, api.until))
        statuses = sandbox.stats()["requests"][PATH_LABEL]
        assert statuses.get("503", 0) + statuses.get("429", 0) > 0  # faults were served


def test_persistent_outage_gives_up_with_one_line(tmp_path: Any) -> None:
    with Sandbox(seed=3, records=30, faults="outage") as sandbox:
        config = tixngo_config(sandbox)
        config["max_retries"] = 1
        result = run_cli(config=config, tmp_path=tmp_path)
    assert result.returncode == 1
    (line,) = error_lines(result.stderr)
    assert "HTTP 503" in line
    assert "gave up after 2 attempts" in line
    assert "mobile_app_id=" in line


def test_window_never_reaches_into_the_future(sandbox: Sandbox) -> None:
    config = tixngo_config(sandbox)
    config["end_date"] = "2999-01-01T00:00:00Z"
    config["start_date"] = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=30)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    config["lag_minutes"] = 60
    output = run_tap(config)
    latest = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=59)
    for partition in output.final_state["bookmarks"][STREAM]["partitions"]:
        assert parse_datetime(partition["replication_key_value"]) <= latest


def test_state_is_not_mutated_by_the_run(sandbox: Sandbox) -> None:
    config = tixngo_config(sandbox)
    state = run_tap(config).final_state
    snapshot = copy.deepcopy(state)
    api = api_of(sandbox)
    api.append(90)
    config["end_date"] = api.until.strftime("%Y-%m-%dT%H:%M:%SZ")
    # The very object the caller holds goes in (run_tap would pass a copy).
    tap = TapTicketLogs(config=config, state=state)
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        tap.sync_all()
    output = TapOutput.parse(buffer.getvalue())
    assert len(output.records(STREAM)) == 90
    assert output.final_state != snapshot, "the run did not advance its bookmarks"
    assert state == snapshot, "the run wrote its bookmarks into the caller's state"


def test_run_ends_with_one_summary_line_per_stream(sandbox: Sandbox, tmp_path: Any) -> None:
    result = run_cli(config=tixngo_config(sandbox, page_size=50), tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    summaries = [line for line in result.stderr.splitlines() if "summary tixngo" in line]
    assert len(summaries) == 1
    served = sandbox.stats()["requests"][PATH_LABEL]["200"]
    assert (
        f"summary tixngo_ticket_status_logs: 600 records, {served} requests, 0 retries, "
        f"{served} pages, 3 partitions" in summaries[0]
    )


def test_rate_limits_are_waited_out_without_loss() -> None:
    with Sandbox(seed=4, records=300, faults="rate-limited", vendors=("tixngo",)) as sandbox:
        output = run_tap(tixngo_config(sandbox))
        statuses = sandbox.stats()["requests"][PATH_LABEL]
        api = api_of(sandbox)
        expected = set(truth_keys(api, api.start, api.until))
    emitted = [record["log_key"] for record in output.records(STREAM)]
    assert statuses["429"] > 0
    assert len(emitted) == len(set(emitted)) == len(expected)
    assert set(emitted) == expected


def test_retry_after_is_honoured_before_exponential_backoff(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(TicketLogsStream, "retry_after_max_seconds", 900.0)
    monkeypatch.setattr(TicketLogsStream, "retry_base_seconds", 0.5)
    monkeypatch.setattr(TicketLogsStream, "retry_max_seconds", 60.0)
    tap = TapTicketLogs(
        config={
            "start_date": "2026-01-01T00:00:00Z",
            "tixngo": {
                "base_url": "https://t.example",
                "api_key": "k" * 8,
                "mobile_app_ids": ["a"],
            },
        }
    )
    stream = tap.streams[STREAM]
    assert isinstance(stream, TicketLogsStream)
    waits = stream.backoff_wait_generator()
    next(waits)  # primed, as backoff does

    def failure(headers: dict[str, str]) -> RetriableResponseError:
        response = requests.Response()
        response.status_code = 429
        response.headers.update(headers)
        return RetriableResponseError("HTTP 429", response)

    assert waits.send(failure({"Retry-After": "120"})) == 120.0  # the server's hint, not 0.5
    assert waits.send(failure({})) == 1.0  # second attempt without a hint: 0.5 * 2
    assert waits.send(failure({"Retry-After": "100000"})) == 900.0  # an absurd hint is capped


@pytest.mark.parametrize(
    ("interval", "kill_after", "latency_ms"),
    [(0, 20, 15), (1, 2, 80)],  # a STATE per window; a STATE per second of a slower run
)
def test_a_killed_run_resumed_from_its_last_state_loses_nothing(
    tmp_path: Any, interval: int, kill_after: int, latency_ms: int
) -> None:
    with Sandbox(seed=6, records=900, latency_ms=latency_ms, vendors=("tixngo",)) as sandbox:
        config = tixngo_config(sandbox, window_hours=24)
        config["max_concurrency"] = 2
        config["state_interval_seconds"] = interval
        seen = interrupted_run(
            config,
            tmp_path,
            lambda seen: sum(1 for m in seen if m["type"] == "STATE") == kill_after,
            signal.SIGKILL,  # no chance to write anything more
            read_after_signal=False,
        )
        last_state = next(m["value"] for m in reversed(seen) if m["type"] == "STATE")
        before = {m["record"]["log_key"] for m in seen if m["type"] == "RECORD"}
        resumed = run_tap(config, state=last_state)
        api = api_of(sandbox)
        expected = set(truth_keys(api, api.start, api.until))
    after = {record["log_key"] for record in resumed.records(STREAM)}
    assert before < expected  # the kill really cut the run short
    assert before | after == expected
