"""Huawei Cloud against the sandbox: every log once, UTC times, state, tokens, errors."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tap_ticketlogs.sandbox.server import Sandbox
from tap_ticketlogs.sources.huawei import pagination as huawei_pagination
from tap_ticketlogs.sources.huawei import sandbox as sandbox_huawei
from tap_ticketlogs.sources.huawei import streams as huawei_streams
from tap_ticketlogs.sources.huawei.sandbox import OPEN_STATUSES, PASSWORD, CaseLog, HuaweiAPI
from tap_ticketlogs.sources.huawei.streams import HuaweiStream
from tap_ticketlogs.tap import TapTicketLogs
from tap_ticketlogs.timeutil import parse_datetime
from tests.helpers import error_lines, run_cli, run_tap, source_config, vendor_api

CASES = "huawei_cases"
LOGS = "huawei_case_operate_logs"
LOGS_LABEL = "GET /v2/servicerequest/cases/{case_id}/operate-logs"
CASES_LABEL = "GET /v2/servicerequest/cases"
DETAIL_LABEL = "GET /v2/servicerequest/cases/{case_id}"
LOGIN_LABEL = "POST /v3/auth/tokens"


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """Only the Huawei simulator: these tests do not depend on the other vendors'."""
    with Sandbox(seed=7, records=600, vendors=("huawei",)) as running:
        yield running


def api_of(sandbox: Sandbox) -> HuaweiAPI:
    return vendor_api(sandbox, "huawei", HuaweiAPI)


def huawei_config(sandbox: Sandbox, **section: Any) -> dict[str, Any]:
    return source_config(sandbox, "huawei", **section)


def rfc3339(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def requests_served(sandbox: Sandbox, label: str, status: str = "200") -> int:
    return int(sandbox.stats()["requests"].get(label, {}).get(status, 0))


def assert_matches_truth(records: list[dict[str, Any]], truth: list[CaseLog]) -> None:
    """Exactly the truth's entries, once each, with its UTC instants and cases."""
    emitted = [record["incident_log_id"] for record in records]
    assert len(emitted) == len(set(emitted)), "an operation log was emitted twice"
    by_id = {entry.log_id: entry for entry in truth}
    assert set(emitted) == set(by_id)
    for record in records:
        entry = by_id[record["incident_log_id"]]
        assert record["incident_id"] == entry.case_id
        assert "case_id" not in record  # the API's incident_id names the case, once
        assert record["operate_time"] == rfc3339(entry.when)
        assert record["timestamp_operate_time"] == rfc3339(entry.when)
        assert record["operate_type"] == entry.operate_type
        assert type(record["operate_type"]) is int
        assert type(record["operator_type"]) is int


@pytest.mark.parametrize("concurrency", [1, 8])
@pytest.mark.parametrize("page_size", [100, 9])
def test_every_log_of_every_case_arrives_exactly_once(
    sandbox: Sandbox, concurrency: int, page_size: int
) -> None:
    config = huawei_config(sandbox, page_size=page_size)
    config["max_concurrency"] = concurrency
    output = run_tap(config)

    api = api_of(sandbox)
    truth = api.all_logs()
    assert len(truth) == 600
    assert_matches_truth(output.records(LOGS), truth)
    assert {case["incident_id"] for case in output.records(CASES)} == {c.case_id for c in api.cases}
    # A case with more than one page at limit 100 was read page by page to its total.
    assert max(len(entries) for entries in api.logs.values()) > 100
    expected_pages = sum(max(1, -(-len(entries) // page_size)) for entries in api.logs.values())
    assert requests_served(sandbox, LOGS_LABEL) == expected_pages
    assert requests_served(sandbox, LOGIN_LABEL, "201") == 1  # one token for both streams
    for record in output.records(LOGS):
        assert record["operate_desc"].isascii()  # X-Language en-us was honoured


@pytest.mark.parametrize("zone", ["GMT+0", "GMT+8", "GMT-5", "GMT+05:30"])
def test_operate_time_is_utc_whatever_zone_is_requested(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, zone: str
) -> None:
    monkeypatch.setattr(HuaweiStream, "time_zone", zone)
    output = run_tap(huawei_config(sandbox))
    api = api_of(sandbox)
    # The sandbox wrote every local time in the zone the tap asked for, and no other.
    assert {label for kind, label in api.seen if kind == "zone"} == {zone}
    assert_matches_truth(output.records(LOGS), api.all_logs())
    cases = {case.case_id: case for case in api.cases}
    emitted = output.records(CASES)
    for case in emitted:
        truth = cases[case["incident_id"]]
        assert case["create_time"] == rfc3339(truth.created)
        if truth.confirmed:
            assert case["confirmed_time"] == rfc3339(truth.confirmed)
    assert any("confirmed_time" in case for case in emitted)


def test_the_api_default_zone_would_shift_times_by_eight_hours(sandbox: Sandbox) -> None:
    # Why the tap names a zone: without X-Time-Zone the API answers in GMT+8.
    api = api_of(sandbox)
    case_id, entries = next(iter(api.logs.items()))
    token = api.issue_token()
    body = requests.get(
        f"{sandbox.base_url}/v2/servicerequest/cases/{case_id}/operate-logs",
        params={"limit": 1},
        headers={"X-Auth-Token": token},
        timeout=10,
    ).json()
    local = body["incident_operate_log_list"][0]["operate_time"]
    assert local == (entries[0].when + dt.timedelta(hours=8)).strftime("%Y-%m-%d %H:%M:%S")


def test_logs_alone_can_be_selected(sandbox: Sandbox) -> None:
    config = huawei_config(sandbox)
    catalog = TapTicketLogs(config=config).catalog_dict
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == []:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] == LOGS
    output = run_tap(config, catalog=catalog)
    assert output.records(CASES) == []
    assert_matches_truth(output.records(LOGS), api_of(sandbox).all_logs())
    assert requests_served(sandbox, LOGIN_LABEL, "201") == 1


def cases_read(sandbox: Sandbox, before: int) -> int:
    """Log requests served since ``before`` (one per case at limit 100 but the big one)."""
    return requests_served(sandbox, LOGS_LABEL) - before


def test_second_run_emits_only_newer_logs(sandbox: Sandbox) -> None:
    config = huawei_config(sandbox, closed_case_lookback_days=10)
    api = api_of(sandbox)
    first = run_tap(config)
    state = first.final_state
    bookmark = state["bookmarks"][LOGS]
    # One bookmark for the stream (not one per case): the run's end, and the creation of
    # the oldest case still open, from which the next run reads closed cases again.
    oldest_open = min(case.created for case in api.cases if case.status in OPEN_STATUSES)
    assert bookmark == {
        "replication_key": "operate_time",
        "replication_key_value": config["end_date"],
        "open_since": rfc3339(oldest_open),
    }
    assert state["bookmarks"][CASES]["replication_key_value"] == config["end_date"]

    served = sandbox.stats()["requests"]
    again = run_tap(config, state=state)
    assert again.records(LOGS) == again.records(CASES) == []
    assert sandbox.stats()["requests"] == served  # nothing was due: no request at all

    known = {entry.log_id for entry in api.all_logs()}
    api.append(90)
    config["end_date"] = rfc3339(api.until)
    logs_before = requests_served(sandbox, LOGS_LABEL)
    newer = run_tap(config, state=state)
    appended = [entry for entry in api.all_logs() if entry.log_id not in known]
    assert len(appended) == 90
    assert_matches_truth(newer.records(LOGS), appended)
    # Only the cases that can have changed are listed again: the open ones, and those
    # created since the oldest case open at the last run, at most 10 days before the
    # bookmark (the long first case is still open); each costs one log request.
    bookmark_at = parse_datetime(bookmark["replication_key_value"])
    since = max(oldest_open - dt.timedelta(minutes=5), bookmark_at - dt.timedelta(days=10))
    selected = {c.case_id for c in api.cases if c.status in OPEN_STATUSES or c.created >= since}
    assert {case["incident_id"] for case in newer.records(CASES)} == selected
    assert len(selected) < len(api.cases)
    big = max(len(entries) for entries in api.logs.values())
    assert cases_read(sandbox, logs_before) == len(selected) + (big - 1) // 100
    # Open cases were listed one status at a time, as the list endpoint filters.
    assert {label for kind, label in api.seen if kind == "status"} == {"", "0", "1", "2", "17"}


def two_runs_apart(
    sandbox: Sandbox, change: Callable[[HuaweiAPI, dt.datetime], list[CaseLog]], **section: Any
) -> tuple[list[CaseLog], list[dict[str, Any]]]:
    """A first run; ``change`` alters the sandbox a day later; the second run's logs."""
    api = api_of(sandbox)
    config = huawei_config(sandbox, **section)
    first = run_tap(config)
    later = api.until + dt.timedelta(hours=1)
    changed = change(api, later)
    api.until = later + dt.timedelta(days=1)
    config["end_date"] = rfc3339(api.until)
    return changed, run_tap(config, state=first.final_state).records(LOGS)


def test_a_reopened_case_is_read_again(sandbox: Sandbox) -> None:
    def reopen_oldest_closed(api: HuaweiAPI, when: dt.datetime) -> list[CaseLog]:
        closed = [case for case in api.cases if case.status not in OPEN_STATUSES]
        return api.reopen(min(closed, key=lambda case: case.created), when, work=2)

    # No lookback at all: only the status listings can find it, and they do.
    changed, records = two_runs_apart(sandbox, reopen_oldest_closed, closed_case_lookback_days=0)
    assert len(changed) == 3
    assert_matches_truth(records, changed)


def test_a_case_closed_since_the_last_run_is_read_again(sandbox: Sandbox) -> None:
    def close_oldest_open(api: HuaweiAPI, when: dt.datetime) -> list[CaseLog]:
        still_open = [case for case in api.cases if case.status in OPEN_STATUSES]
        return [api.close(min(still_open, key=lambda case: case.created), when)]

    # It is final now, but it was open at the last run: open_since reaches back to it.
    changed, records = two_runs_apart(sandbox, close_oldest_open)
    assert_matches_truth(records, changed)
    assert records[0]["operate_type"] == 8  # its closing entry


def test_lookback_bounds_how_far_back_closed_cases_are_read(sandbox: Sandbox) -> None:
    def close_oldest_open(api: HuaweiAPI, when: dt.datetime) -> list[CaseLog]:
        still_open = [case for case in api.cases if case.status in OPEN_STATUSES]
        return [api.close(min(still_open, key=lambda case: case.created), when)]

    # The documented limit: with no lookback, a case that closed between two runs is not
    # listed (final now, created before the bookmark) and its closing entry is missed.
    changed, records = two_runs_apart(sandbox, close_oldest_open, closed_case_lookback_days=0)
    assert changed
    assert records == []


def test_list_filters_are_strict_as_documented(sandbox: Sandbox) -> None:
    api = api_of(sandbox)
    headers = {"X-Auth-Token": api.issue_token(), "X-Time-Zone": "GMT+0"}
    url = f"{sandbox.base_url}/v2/servicerequest/cases"

    def listed(**params: Any) -> requests.Response:
        return requests.get(url, params={"limit": 100, **params}, headers=headers, timeout=10)

    for status in (0, 3, 17):
        body = listed(status=status).json()
        truth = {case.case_id for case in api.cases if case.status == status}
        assert {case["incident_id"] for case in body["incident_info_list"]} == truth
        assert all(case["status"] == status for case in body["incident_info_list"])
    assert listed(status=21).status_code == 400
    assert listed(status="open").status_code == 400
    unknown = listed(updated_since="2026-01-01 00:00:00")
    assert unknown.status_code == 400
    assert unknown.json()["error_msg"] == "unknown parameter: updated_since"
    logs = f"{url}/{api.cases[0].case_id}/operate-logs"
    assert requests.get(logs, params={"status": 1}, headers=headers, timeout=10).status_code == 400


def test_logs_from_end_date_on_wait_for_the_next_run(sandbox: Sandbox) -> None:
    api = api_of(sandbox)
    middle = api.start + (api.until - api.start) / 2
    config = huawei_config(sandbox, page_size=50)
    config["end_date"] = rfc3339(middle)
    first = run_tap(config)
    assert_matches_truth(
        first.records(LOGS), [entry for entry in api.all_logs() if entry.when < middle]
    )
    assert first.final_state["bookmarks"][LOGS]["replication_key_value"] == rfc3339(middle)
    config["end_date"] = rfc3339(api.until)
    rest = run_tap(config, state=first.final_state)
    assert_matches_truth(
        rest.records(LOGS), [entry for entry in api.all_logs() if entry.when >= middle]
    )


def test_a_run_resumed_from_a_mid_run_state_loses_nothing(sandbox: Sandbox) -> None:
    config = huawei_config(sandbox)
    config["max_concurrency"] = 1
    config["state_interval_seconds"] = 0  # every STATE the SDK writes, to cut anywhere
    full = run_tap(config)
    messages = full.messages
    states = [i for i, message in enumerate(messages) if message["type"] == "STATE"]
    cut = states[len(states) // 2]
    before = {
        m["record"]["incident_log_id"]
        for m in messages[:cut]
        if m["type"] == "RECORD" and m["stream"] == LOGS
    }
    assert before
    resumed = run_tap(config, state=messages[cut]["value"])
    after = {record["incident_log_id"] for record in resumed.records(LOGS)}
    assert before | after == {entry.log_id for entry in api_of(sandbox).all_logs()}


def test_an_expired_token_is_renewed_mid_run(sandbox: Sandbox) -> None:
    api = api_of(sandbox)
    api.token_max_uses = 5  # the API rejects each token after five requests
    config = huawei_config(sandbox, page_size=20)
    config["max_concurrency"] = 4
    output = run_tap(config)
    assert_matches_truth(output.records(LOGS), api.all_logs())
    api_requests = requests_served(sandbox, LOGS_LABEL) + requests_served(sandbox, CASES_LABEL)
    rejected = requests_served(sandbox, LOGS_LABEL, "401")
    assert rejected >= 1
    assert api.logins >= api_requests // 5
    # Threads rejected with the same token share one renewal: never a login per 401 more.
    assert api.logins <= rejected + 1


def test_a_token_is_renewed_before_it_expires(sandbox: Sandbox) -> None:
    api = api_of(sandbox)
    api.token_lifetime = dt.timedelta(minutes=2)  # inside the tap's renewal margin
    config = huawei_config(sandbox)
    config["max_concurrency"] = 1
    output = run_tap(config)
    assert len(output.records(LOGS)) == 600
    api_requests = requests_served(sandbox, LOGS_LABEL) + requests_served(sandbox, CASES_LABEL)
    assert requests_served(sandbox, LOGS_LABEL, "401") == 0
    assert api.logins == api_requests  # a fresh token before each request, none rejected


def test_configured_auth_token(sandbox: Sandbox) -> None:
    api = api_of(sandbox)
    config = huawei_config(sandbox)
    for setting in ("iam_url", "domain_name", "user_name", "password", "project_name"):
        del config["huawei"][setting]
    config["huawei"]["auth_token"] = api.issue_token()
    output = run_tap(config)
    assert len(output.records(LOGS)) == 600
    assert api.logins == 0


def test_a_rejected_configured_token_is_one_line_without_the_token(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    token = "MIIstale-token-0123456789abcdef"
    config = huawei_config(sandbox, auth_token=token, case_ids=["CS-1"])
    del config["huawei"]["password"]
    result = run_cli(config=config, tmp_path=tmp_path)
    assert result.returncode == 1
    (line,) = error_lines(result.stderr)
    assert "Huawei Cloud huawei_cases [case_id=CS-1]" in line  # its detail page, first
    assert "HTTP 401" in line
    assert "rejected the credentials" in line
    assert token not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_wrong_password_is_one_line_without_the_password(sandbox: Sandbox, tmp_path: Path) -> None:
    wrong = "not-the-password-4242"
    result = run_cli(config=huawei_config(sandbox, password=wrong), tmp_path=tmp_path)
    assert result.returncode == 1
    (line,) = error_lines(result.stderr)
    assert "Huawei Cloud huawei_cases" in line
    assert "IAM login failed: HTTP 401: The username or password is wrong." in line
    assert wrong not in result.stderr + result.stdout
    assert PASSWORD not in result.stderr
    assert "Traceback" not in result.stderr


def test_configured_case_ids_are_used_exactly(sandbox: Sandbox) -> None:
    api = api_of(sandbox)
    chosen = [api.cases[3].case_id, api.cases[0].case_id]
    output = run_tap(huawei_config(sandbox, case_ids=[*chosen, chosen[0]], group_id="grp-ops"))
    cases = output.records(CASES)
    assert [case["incident_id"] for case in cases] == chosen
    # Whole records from each case's detail page, the replication key among their fields.
    truth = {case.case_id: case for case in api.cases}
    for case in cases:
        assert case["create_time"] == rfc3339(truth[case["incident_id"]].created)
        assert case["status"] == truth[case["incident_id"]].status
        assert case["business_type_name"] == truth[case["incident_id"]].business_type
    assert_matches_truth(
        output.records(LOGS), [entry for case_id in chosen for entry in api.logs[case_id]]
    )
    assert requests_served(sandbox, CASES_LABEL) == 0  # no list request at all
    assert requests_served(sandbox, DETAIL_LABEL) == len(chosen)
    assert api.seen[("group_id", "grp-ops")] == requests_served(
        sandbox, LOGS_LABEL
    ) + requests_served(sandbox, DETAIL_LABEL)


def test_group_id_is_sent_to_both_endpoints(sandbox: Sandbox) -> None:
    api = api_of(sandbox)
    run_tap(huawei_config(sandbox, group_id="grp-ops"))
    served = requests_served(sandbox, LOGS_LABEL) + requests_served(sandbox, CASES_LABEL)
    assert api.seen[("group_id", "grp-ops")] == served
    assert api.seen[("group_id", "")] == 0


def test_an_error_body_names_the_case(sandbox: Sandbox, tmp_path: Path) -> None:
    config = huawei_config(sandbox, case_ids=["CS-DOES-NOT-EXIST"])
    result = run_cli(config=config, tmp_path=tmp_path)
    assert result.returncode == 1
    (line,) = error_lines(result.stderr)
    assert line == (
        "tap-ticketlogs: error: Huawei Cloud huawei_cases "
        "[case_id=CS-DOES-NOT-EXIST]: HTTP 404: Not Found: "
        "OSM.00040404: The service ticket CS-DOES-NOT-EXIST does not exist"
    )


def test_sandbox_rejects_a_limit_over_100(sandbox: Sandbox) -> None:
    api = api_of(sandbox)
    response = requests.get(
        f"{sandbox.base_url}/v2/servicerequest/cases",
        params={"limit": 101},
        headers={"X-Auth-Token": api.issue_token()},
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json() == {
        "error_code": "OSM.00040001",
        "error_msg": "limit must be between 0 and 100",
    }


def test_page_size_over_100_is_rejected_before_any_request(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    result = run_cli(config=huawei_config(sandbox, page_size=101), tmp_path=tmp_path)
    assert result.returncode == 1
    (line,) = error_lines(result.stderr)
    assert "huawei.page_size" in line
    assert sandbox.stats()["requests"] == {}


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def warnings_logged() -> Iterator[list[str]]:
    """Warnings logged during the test (the suite runs with pytest's logging plugin off)."""
    handler = _Collect()
    logging.getLogger().addHandler(handler)
    try:
        yield handler.messages
    finally:
        logging.getLogger().removeHandler(handler)


def test_a_case_longer_than_the_offset_ceiling_is_cut_with_a_warning(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, warnings_logged: list[str]
) -> None:
    # The documented ceiling is 65 535; the same mechanism with a ceiling of 1 000 on both
    # sides keeps the test fast (the paginator's unit test walks the real one).
    ceiling = 1_000
    monkeypatch.setattr(sandbox_huawei, "MAX_OFFSET", ceiling)
    monkeypatch.setattr(huawei_pagination, "OFFSET_MAX", ceiling)
    monkeypatch.setattr(huawei_streams, "OFFSET_MAX", ceiling)
    api = api_of(sandbox)
    huge = api.cases[1]
    first = api.logs[huge.case_id][0].when
    api.logs[huge.case_id] = [
        CaseLog(f"H{index:07d}", huge.case_id, first + dt.timedelta(seconds=index), 3, 0, "c", "c")
        for index in range(1_250)
    ]
    output = run_tap(huawei_config(sandbox, case_ids=[huge.case_id, api.cases[2].case_id]))
    records = output.records(LOGS)
    # Offsets 0..1 000 by 100: everything up to the last offset the API accepts, and the
    # next case is still read.
    assert_matches_truth(records, api.logs[huge.case_id][:1_100] + api.logs[api.cases[2].case_id])
    assert requests_served(sandbox, LOGS_LABEL, "400") == 0  # never asked past the ceiling
    warnings = [message for message in warnings_logged if "no offset above" in message]
    assert warnings == [
        f"Huawei Cloud huawei_case_operate_logs [case_id={huge.case_id}]: the API serves no "
        "offset above 1000; 1100 entries were read and the rest of this list is skipped"
    ]


def test_a_token_that_never_works_is_fatal_after_one_renewal(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    api = api_of(sandbox)
    api.token_max_uses = 0  # the API refuses every token IAM issues (e.g. a wrong scope)
    # The CLI runs in another process: the sandbox setting travels with the server.
    config = huawei_config(sandbox, case_ids=[api.cases[0].case_id])
    result = run_cli(config=config, tmp_path=tmp_path)
    assert result.returncode == 1
    (line,) = error_lines(result.stderr)
    assert "HTTP 401" in line
    assert "rejected the credentials" in line
    assert api.logins == 2  # the first token, and one renewal


def test_transient_faults_are_retried_without_loss() -> None:
    with Sandbox(seed=11, records=600, faults="flaky", vendors=("huawei",)) as sandbox:
        config = huawei_config(sandbox, page_size=25)
        config["max_concurrency"] = 4
        output = run_tap(config)
        api = api_of(sandbox)
        assert_matches_truth(output.records(LOGS), api.all_logs())
        statuses = sandbox.stats()["requests"][LOGS_LABEL]
        assert statuses.get("503", 0) + statuses.get("429", 0) > 0


def incremental_requests_after(months: int) -> int:
    """Requests of one incremental run after ``months`` of history at a steady rate."""
    start = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
    api = HuaweiAPI(seed=21, records=20, start=start)
    with Sandbox(apis={"huawei": api}, vendors=()) as sandbox:
        for _ in range(30 * months):
            api.append(20)
        config = huawei_config(sandbox)
        state = run_tap(config).final_state
        api.append(30)
        config["end_date"] = rfc3339(api.until)
        before = requests_served(sandbox, LOGS_LABEL) + requests_served(sandbox, CASES_LABEL)
        run_tap(config, state=state)
        return requests_served(sandbox, LOGS_LABEL) + requests_served(sandbox, CASES_LABEL) - before


def test_an_incremental_run_costs_the_same_after_a_month_or_a_year() -> None:
    month, year = incremental_requests_after(1), incremental_requests_after(12)
    assert year <= 1.5 * month, (month, year)
