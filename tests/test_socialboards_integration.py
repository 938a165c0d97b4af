"""Socialboards against the sandbox: exactly once, incremental, tokens, bad answers, state size."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
import requests

from tap_ticketlogs.sandbox.server import Sandbox
from tap_ticketlogs.sources.socialboards.sandbox import (
    REFRESH_TOKEN,
    STATIC_ACCESS_TOKEN,
    SocialboardsAPI,
)
from tap_ticketlogs.sources.socialboards.times import parse_api_time
from tap_ticketlogs.streams.records import log_key
from tap_ticketlogs.timeutil import parse_datetime, to_rfc3339
from tests.helpers import error_lines, run_cli, run_tap, source_config, vendor_api

TICKETS = "socialboards_tickets"
LOGS = "socialboards_ticket_logs"
LIST_LABEL = "POST /tickets/list"
LOG_LABEL = "POST /tickets/{ticketId}/log"
TOKEN_LABEL = "POST /token"
MARGIN = dt.timedelta(hours=24)  # the default activity_margin_hours


def sb_config(sandbox: Sandbox, **section: Any) -> dict[str, Any]:
    return source_config(sandbox, "socialboards", **section)


def api_of(sandbox: Sandbox) -> SocialboardsAPI:
    return vendor_api(sandbox, "socialboards", SocialboardsAPI)


def truth(api: SocialboardsAPI, start: dt.datetime, end: dt.datetime) -> list[str]:
    return [log_key(entry, ticket_id) for ticket_id, entry in api.entries_between(start, end)]


def served(sandbox: Sandbox, label: str, status: str = "200") -> int:
    return int(sandbox.stats()["requests"].get(label, {}).get(status, 0))


def rfc3339(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def sb() -> Any:
    with Sandbox(seed=7, records=600, vendors=("socialboards",)) as sandbox:
        yield sandbox


@pytest.mark.parametrize("concurrency", [1, 8])
@pytest.mark.parametrize("page_size", [4, 50])
def test_every_entry_of_every_ticket_arrives_exactly_once(
    sb: Sandbox, concurrency: int, page_size: int
) -> None:
    config = sb_config(sb, page_size=page_size)
    config["max_concurrency"] = concurrency
    output = run_tap(config)

    api = api_of(sb)
    logs = output.records(LOGS)
    emitted = [record["log_key"] for record in logs]
    expected = truth(api, api.start, api.until)
    assert len(expected) == 600
    assert len(emitted) == len(set(emitted)), "an entry was emitted twice"
    assert sorted(emitted) == sorted(expected)
    assert sorted(t["id"] for t in output.records(TICKETS)) == sorted(api.tickets)
    longest = max(len(ticket.entries) for ticket in api.tickets.values())
    assert longest > page_size  # some ticket's log really spans pages
    assert served(sb, LOG_LABEL) > len(api.tickets) if page_size == 4 else True
    assert served(sb, TOKEN_LABEL) == 1  # one token shared by both streams and all threads
    # One SCHEMA for the logs, before their first record (the SDK repeats it per ticket).
    schemas = [i for i, m in enumerate(output.messages) if m["type"] == "SCHEMA"]
    first_log = next(
        i for i, m in enumerate(output.messages) if m["type"] == "RECORD" and m["stream"] == LOGS
    )
    assert [output.messages[i]["stream"] for i in schemas].count(LOGS) == 1
    assert min(i for i in schemas if output.messages[i]["stream"] == LOGS) < first_log
    for record in logs:
        assert record["ticketId"] in api.tickets
        assert isinstance(record["user"], dict)
        assert isinstance(record["includedItems"]["categories"], list)


def test_times_are_utc_with_seven_digits_and_keep_their_order(sb: Sandbox) -> None:
    output = run_tap(sb_config(sb))
    api = api_of(sb)
    by_key = {
        log_key(log.entry, ticket.id): log
        for ticket in api.tickets.values()
        for log in ticket.entries
    }
    for record in output.records(LOGS):
        log = by_key[record["log_key"]]
        assert record["time"].endswith("Z")
        assert len(record["time"].split(".")[1]) == 8  # 7 digits and the Z
        assert parse_datetime(record["time"]) == log.when
        assert record["time"][-2] == str(log.tick)  # the 7th digit survives
        assert not record["time"].startswith(log.entry["time"][:19]) or log.entry["time"].endswith(
            "+00:00"
        )  # local times were shifted to UTC
    # String order is time order, ticks included (ties of the microsecond are broken).
    records = output.records(LOGS)
    assert sorted(r["time"] for r in records) == [
        r["time"] for r in sorted(records, key=lambda r: by_key[r["log_key"]].order)
    ]
    for ticket in output.records(TICKETS):
        assert ticket["creationTime"].endswith("Z")
        assert ticket["lastThreadElementCreationTime"].endswith("Z")


def test_second_run_reads_only_active_tickets_and_emits_only_newer_entries(sb: Sandbox) -> None:
    config = sb_config(sb)
    api = api_of(sb)
    first = run_tap(config)
    state = first.final_state
    assert state["bookmarks"][LOGS] == {
        "replication_key": "time",
        "replication_key_value": config["end_date"],
    }

    # Nothing new (the run's window is empty): not a single log request.
    logs_before = served(sb, LOG_LABEL)
    again = run_tap(config, state=state)
    assert again.records(LOGS) == []
    assert served(sb, LOG_LABEL) == logs_before

    old_until = api.until
    api.append(90)
    config["end_date"] = rfc3339(api.until)
    logs_before = served(sb, LOG_LABEL)
    newer = run_tap(config, state=state)
    emitted = [record["log_key"] for record in newer.records(LOGS)]
    expected = truth(api, old_until, api.until)
    assert len(expected) == 90
    assert sorted(emitted) == sorted(expected)
    active = [t for t in api.tickets.values() if t.last_thread_activity[0] >= old_until - MARGIN]
    assert served(sb, LOG_LABEL) - logs_before == len(active) < len(api.tickets) / 2
    assert newer.final_state["bookmarks"][LOGS]["replication_key_value"] == config["end_date"]


def test_ticket_moving_to_the_top_while_listing_is_not_missed(sb: Sandbox) -> None:
    config = sb_config(sb, page_size=3)
    api = api_of(sb)
    state = run_tap(config).final_state
    api.append(120)
    config["end_date"] = rfc3339(api.until)
    # The active ticket listed last: it will jump to the top once the listing is under way.
    recent = api.start + dt.timedelta(days=29)
    active = sorted(
        (t for t in api.tickets.values() if t.last_thread_activity[0] >= recent),
        key=lambda t: t.last_thread_activity,
    )
    mover = active[0]
    added: list[dict[str, Any]] = []
    first_list_request = api.list_requests + 1

    def reply_during_listing(count: int) -> None:
        if count == first_list_request + 2:
            when = api.until - dt.timedelta(minutes=1)
            added.append(api.add_entry(mover.id, when, "reply_created"))

    api.list_hook = reply_during_listing
    output = run_tap(config, state=state)
    emitted = [record["log_key"] for record in output.records(LOGS)]
    assert added
    assert log_key(added[0], mover.id) in emitted
    bookmark = parse_datetime(state["bookmarks"][LOGS]["replication_key_value"])
    expected = truth(api, bookmark, api.until)
    assert sorted(emitted) == sorted(expected)


def test_access_token_expiring_mid_run_is_refreshed_without_losing_a_page(sb: Sandbox) -> None:
    api = api_of(sb)
    api.token_max_uses = 9  # the server drops every token after 9 requests, well before expiry
    config = sb_config(sb, page_size=5)
    config["max_concurrency"] = 8
    output = run_tap(config)
    emitted = [record["log_key"] for record in output.records(LOGS)]
    assert len(emitted) == len(set(emitted)) == 600
    assert sorted(emitted) == sorted(truth(api, api.start, api.until))
    rejected = served(sb, LOG_LABEL, "401") + served(sb, LIST_LABEL, "401")
    assert rejected > 0
    assert api.tokens_issued > 10
    # Concurrent 401s on one token renew it once, not once per thread.
    assert api.tokens_issued <= rejected + 1


def test_static_access_token_needs_no_refresh(sb: Sandbox) -> None:
    config = sb_config(sb)
    section = config["socialboards"]
    del section["client_id"], section["refresh_token"]
    section["access_token"] = STATIC_ACCESS_TOKEN
    output = run_tap(config)
    assert len(output.records(LOGS)) == 600
    assert api_of(sb).tokens_issued == 0


def test_revoked_refresh_token_is_one_line_without_secrets(sb: Sandbox, tmp_path: Any) -> None:
    api_of(sb).revoke_refresh_token()
    result = run_cli(config=sb_config(sb), tmp_path=tmp_path)
    assert result.returncode == 1
    (line,) = error_lines(result.stderr)
    assert "Socialboards" in line
    assert "refresh token was refused (invalid_grant)" in line
    assert "revoked" in line
    assert "HTTP 400" in line
    assert REFRESH_TOKEN not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_rejected_static_token_without_refresh_is_one_line(sb: Sandbox, tmp_path: Any) -> None:
    config = sb_config(sb)
    section = config["socialboards"]
    del section["client_id"], section["refresh_token"]
    section["access_token"] = "sb-wrong-static-token-1234"
    result = run_cli(config=config, tmp_path=tmp_path)
    assert result.returncode == 1
    (line,) = error_lines(result.stderr)
    assert "HTTP 401" in line
    assert "sb-wrong-static-token-1234" not in result.stderr + result.stdout


def test_error_code_envelope_is_one_line_with_error_text_and_ticket(
    sb: Sandbox, tmp_path: Any
) -> None:
    api = api_of(sb)
    ticket_id = sorted(api.tickets)[5]
    api.failing_logs[ticket_id] = (7, "Ticket is anonymized and its log cannot be read")
    result = run_cli(config=sb_config(sb), tmp_path=tmp_path)
    assert result.returncode == 1
    (line,) = error_lines(result.stderr)
    assert f"ticket_id={ticket_id}" in line
    assert "errorCode 7" in line
    assert "Ticket is anonymized and its log cannot be read" in line
    assert "socialboards_ticket_logs" in line
    assert "Traceback" not in result.stderr


def test_ticket_vanishing_after_listing_is_skipped_and_counted(sb: Sandbox, tmp_path: Any) -> None:
    api = api_of(sb)
    gone = sorted(api.tickets)[3:5]
    api.vanished.update(gone)
    result = run_cli(config=sb_config(sb), tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert error_lines(result.stderr) == []
    warnings = [line for line in result.stderr.splitlines() if "disappeared" in line]
    for ticket_id in gone:
        assert any(f"ticket {ticket_id} disappeared" in line for line in warnings)
    total = f"2 ticket(s) disappeared during the run and were skipped: {gone[0]}, {gone[1]}"
    assert any(total in line for line in warnings)
    messages = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    keys = {
        m["record"]["log_key"] for m in messages if m["type"] == "RECORD" and m["stream"] == LOGS
    }
    expected = {
        log_key(entry, ticket_id)
        for ticket_id, entry in api.entries_between(api.start, api.until)
        if ticket_id not in gone
    }
    assert keys == expected


def test_configured_ticket_ids_are_exactly_the_tickets_read(sb: Sandbox) -> None:
    api = api_of(sb)
    wanted = sorted(api.tickets)[10:13]
    output = run_tap(sb_config(sb, ticket_ids=[*wanted, 999]))
    assert sorted(t["id"] for t in output.records(TICKETS)) == wanted
    emitted = sorted(record["log_key"] for record in output.records(LOGS))
    expected = sorted(
        log_key(log.entry, ticket_id)
        for ticket_id in wanted
        for log in api.tickets[ticket_id].entries
    )
    assert emitted == expected
    assert served(sb, LIST_LABEL) == 1  # one request for up to page_size ids
    assert served(sb, LOG_LABEL) == len(wanted)


def test_action_types_filter_is_sent_in_the_body(sb: Sandbox) -> None:
    wanted = ["ticket_read", "ticket_status_changed"]
    output = run_tap(sb_config(sb, action_types=wanted))
    records = output.records(LOGS)
    assert records
    assert {record["actionType"] for record in records} == set(wanted)
    api = api_of(sb)
    expected = [
        log_key(entry, ticket_id)
        for ticket_id, entry in api.entries_between(api.start, api.until)
        if entry["actionType"] in wanted
    ]
    assert sorted(r["log_key"] for r in records) == sorted(expected)


def test_state_size_does_not_grow_with_the_number_of_tickets() -> None:
    sizes = []
    for records in (80, 2400):
        with Sandbox(seed=5, records=records, vendors=("socialboards",)) as sandbox:
            output = run_tap(sb_config(sandbox))
            tickets = len(api_of(sandbox).tickets)
            assert len(output.records(LOGS)) == records
            largest = max(len(json.dumps(state)) for state in output.states)
            sizes.append((tickets, largest, output.final_state["bookmarks"][LOGS]))
    (few, few_size, few_bookmark), (many, many_size, many_bookmark) = sizes
    assert many >= 20 * few
    assert (
        few_bookmark
        == many_bookmark
        == {
            "replication_key": "time",
            "replication_key_value": few_bookmark["replication_key_value"],
        }
    )
    assert abs(many_size - few_size) < 64  # a digit here and there, never a ticket list


def test_killed_run_resumed_from_its_last_state_loses_nothing(sb: Sandbox) -> None:
    config = sb_config(sb, page_size=10)
    first = run_tap(config)
    api = api_of(sb)
    api.append(120)
    config["end_date"] = rfc3339(api.until)
    full = run_tap(config, state=first.final_state)
    messages = full.messages
    # Killed after half of the new entries: resume from the last STATE written before that.
    logs = [i for i, m in enumerate(messages) if m["type"] == "RECORD" and m["stream"] == LOGS]
    kill = logs[len(logs) // 2]
    last_state = [m["value"] for m in messages[:kill] if m["type"] == "STATE"][-1]
    # The log bookmark never moved past entries not yet emitted.
    assert (
        last_state["bookmarks"][LOGS]["replication_key_value"]
        == first.final_state["bookmarks"][LOGS]["replication_key_value"]
    )
    before = {messages[i]["record"]["log_key"] for i in logs if i < kill}
    resumed = run_tap(config, state=last_state)
    after = {record["log_key"] for record in resumed.records(LOGS)}
    assert 0 < len(before) < 120
    assert before | after == {record["log_key"] for record in full.records(LOGS)}
    assert len(after) == 120  # the whole unfinished run is read again: at-least-once


def test_transient_faults_are_retried_without_loss() -> None:
    with Sandbox(seed=11, records=400, faults="flaky", vendors=("socialboards",)) as sandbox:
        config = sb_config(sandbox, page_size=10)
        config["max_concurrency"] = 4
        output = run_tap(config)
        api = api_of(sandbox)
        emitted = [record["log_key"] for record in output.records(LOGS)]
        assert len(emitted) == len(set(emitted)) == 400
        assert sorted(emitted) == sorted(truth(api, api.start, api.until))
        stats = sandbox.stats()["requests"]
        faults = sum(
            count for label in stats for status, count in stats[label].items() if status != "200"
        )
        assert faults > 0


def test_sandbox_rejects_take_over_fifty(sb: Sandbox) -> None:
    token = requests.post(
        f"{sb.base_url}/token",
        data={
            "grant_type": "refresh_token",
            "client_id": "socialboards-sandbox-client",
            "refresh_token": REFRESH_TOKEN,
        },
        timeout=10,
    ).json()["access_token"]
    ticket_id = sorted(api_of(sb).tickets)[0]
    answer = requests.post(
        f"{sb.base_url}/tickets/{ticket_id}/log?take=51&skip=0",
        json={"action_types": []},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert answer.status_code == 400
    assert answer.json()["errorCode"] != -1
    assert "take" in answer.json()["errorText"]


def test_page_size_over_fifty_is_a_config_error(sb: Sandbox, tmp_path: Any) -> None:
    result = run_cli(config=sb_config(sb, page_size=51), tmp_path=tmp_path)
    assert result.returncode == 1
    (line,) = error_lines(result.stderr)
    assert "socialboards.page_size" in line


def test_bookmark_is_the_run_end_not_a_record_time(sb: Sandbox) -> None:
    config = sb_config(sb)
    config["end_date"] = to_rfc3339(api_of(sb).start + dt.timedelta(days=10))
    output = run_tap(config)
    end = parse_datetime(config["end_date"])
    assert all(parse_api_time(r["time"]) < end for r in output.records(LOGS))
    assert output.final_state["bookmarks"][LOGS]["replication_key_value"] == config["end_date"]


def log_pages(entries: list[Any], lower: dt.datetime, take: int = 50) -> int:
    """Log requests the tap needs for one ticket: newest first, until a page is short or
    reaches back past ``lower``."""
    page = 0
    while True:
        items = entries[page * take : (page + 1) * take]
        if len(items) < take or items[-1].when < lower:
            return page + 1
        page += 1


def test_incremental_requests_follow_the_active_tickets_not_the_history() -> None:
    with Sandbox(seed=9, records=300, vendors=("socialboards",)) as sandbox:
        api = api_of(sandbox)
        for _ in range(90):  # three more months of history
            api.append(30)
        config = sb_config(sandbox)
        config["end_date"] = rfc3339(api.until)
        first = run_tap(config)
        bookmarks = first.final_state["bookmarks"]
        bookmark = parse_datetime(bookmarks[LOGS]["replication_key_value"])
        # Tickets are listed down to the older of both streams' bookmarks, minus the margin.
        newest_ticket = parse_api_time(bookmarks[TICKETS]["replication_key_value"])
        cutoff = min(bookmark, newest_ticket) - MARGIN
        api.append(30)  # one new day
        config["end_date"] = rfc3339(api.until)
        lists, logs = served(sandbox, LIST_LABEL), served(sandbox, LOG_LABEL)
        newer = run_tap(config, state=first.final_state)
        active = [
            ticket for ticket in api.tickets.values() if ticket.last_thread_activity[0] >= cutoff
        ]
        # The logs of the tickets active since the bookmark (minus the margin), one page
        # each unless a ticket got more than a page of new entries; the listing pages down
        # to the margin, then one catch-up page. Nothing scales with the idle history.
        assert served(sandbox, LOG_LABEL) - logs == sum(
            log_pages(ticket.entries, bookmark) for ticket in active
        )
        assert served(sandbox, LIST_LABEL) - lists == len(active) // 50 + 2
        assert {ticket["id"] for ticket in newer.records(TICKETS)} == {t.id for t in active}
        assert len(active) * 10 < len(api.tickets)
        assert sorted(r["log_key"] for r in newer.records(LOGS)) == sorted(
            truth(api, bookmark, api.until)
        )
