"""A run through the sandbox's "mixed" faults ends exactly like a clean run.

Per source: the same seed served once clean and once with every fault kind (503, 429 with
Retry-After, truncated JSON, HTML behind a 200, answers slower than request_timeout,
connections reset mid-body, credentials that stop working after a few requests). The key
set and the final STATE must be the clean run's; the sandbox's request log (with arrival
times) shows that every request was retried within max_retries and that every 429 was
waited out for at least its Retry-After.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
import requests

from tap_ticketlogs.sandbox.core import Request
from tap_ticketlogs.sandbox.faults import FAULT_KINDS, FaultInjector, FaultPlan
from tap_ticketlogs.sandbox.server import Sandbox, main
from tap_ticketlogs.streams.base import TicketLogsStream
from tests.helpers import error_lines, run_cli, run_tap, source_config

MAX_RETRIES = 3
RETRY_AFTER_S = 1
STREAMS = {
    "tixngo": {"tixngo_ticket_status_logs": ("log_key",)},
    "akana": {"akana_transaction_logs": ("TransactionID",)},
    "socialboards": {"socialboards_tickets": ("id",), "socialboards_ticket_logs": ("log_key",)},
    "huawei": {"huawei_cases": ("incident_id",), "huawei_case_operate_logs": ("incident_log_id",)},
}
# Sources whose credentials the sandbox can expire mid-run (TIXNGO's key is static).
RENEWABLE = ("akana", "socialboards", "huawei")
# Small pages, so every source makes ~100 requests from a small data set.
PAGING = {"tixngo": {}, "akana": {}, "socialboards": {"page_size": 4}, "huawei": {"page_size": 3}}


def _config(sandbox: Sandbox, source: str) -> dict[str, Any]:
    config = source_config(sandbox, source, **PAGING[source])
    config.update(request_timeout=1, max_retries=MAX_RETRIES, max_concurrency=4)
    return config


def _keys(output: Any, stream: str, fields: tuple[str, ...]) -> list[str]:
    return sorted(json.dumps([r.get(f) for f in fields]) for r in output.records(stream))


@pytest.mark.parametrize("source", sorted(STREAMS))
def test_mixed_faults_end_like_a_clean_run(
    source: str, monkeypatch: pytest.MonkeyPatch, record_property: Any
) -> None:
    # Honour the sandbox's real Retry-After (the shared fixture caps it at 50 ms).
    monkeypatch.setattr(TicketLogsStream, "retry_after_max_seconds", 900.0)
    with Sandbox(seed=5, records=150, vendors=(source,)) as clean_sandbox:
        clean = run_tap(_config(clean_sandbox, source))
    with Sandbox(seed=5, records=150, vendors=(source,), faults="mixed") as sandbox:
        faulty = run_tap(_config(sandbox, source))
        log = list(sandbox.request_log)

    for stream, fields in STREAMS[source].items():
        expected = _keys(clean, stream, fields)
        assert expected, f"{stream}: the clean run read nothing"
        got = _keys(faulty, stream, fields)
        assert len(got) == len(set(got)), f"{stream}: a record was emitted twice"
        assert got == expected, stream
    assert faulty.final_state == clean.final_state

    faults = Counter(entry["fault"] for entry in log if entry["fault"])
    expired = sum(1 for entry in log if entry["status"] == 401 and not entry["fault"])
    failing = sum(faults.values()) + expired
    summary = {
        "requests": len(log),
        "faults": dict(faults),
        "expired_credentials": expired,
        "records": {stream: len(clean.records(stream)) for stream in STREAMS[source]},
    }
    record_property("fault_summary", summary)
    print(f"{source}: {summary}")  # noqa: T201 - figures for the closing note
    assert failing / len(log) >= 0.10, f"only {failing} of {len(log)} requests failed"
    assert len(faults) >= 4, faults  # most kinds were served to this source
    if source in RENEWABLE:
        assert expired > 0, "no credential expired mid-run"

    by_key: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in log:
        by_key[entry["key"]].append(entry)
    for key, attempts in by_key.items():
        # Faults come at most twice in a row for one request; the tap must get through.
        assert attempts[-1]["fault"] is None, f"{key}: the last attempt failed"
        consecutive = 0
        for entry in attempts:
            consecutive = consecutive + 1 if entry["fault"] or entry["status"] == 401 else 0
            assert consecutive <= MAX_RETRIES, f"{key}: more than {MAX_RETRIES} retries"
        for before, after in itertools.pairwise(attempts):
            if before["fault"] == "429":
                waited = after["at"] - before["at"]
                assert waited >= RETRY_AFTER_S - 0.01, f"{key}: retried {waited:.2f} s after a 429"


def test_faults_are_deterministic_for_a_seed() -> None:
    plan_requests = [f"/page/{n}" for n in range(300)]

    def decisions(seed: int) -> list[str | None]:
        injector = FaultInjector("mixed", seed)
        kinds = []
        for path in plan_requests:
            fault = injector.fault(Request("GET", path, {}, {}))
            kinds.append(fault.kind if fault else None)
        return kinds

    first = decisions(1)
    assert first == decisions(1)
    assert first != decisions(2)
    assert set(first) == {None, *FAULT_KINDS}


def test_fault_specs_are_parsed_or_refused() -> None:
    plan = FaultPlan.parse("reset,429,rate=0.5,expire=7,retry-after=2,in-a-row=1")
    assert plan.kinds == ("reset", "429")
    assert (plan.rate, plan.expire_after, plan.retry_after_s, plan.in_a_row) == (0.5, 7, 2, 1)
    assert FaultPlan.parse("slow=3").slow_s == 3.0
    assert FaultPlan.parse("none").kinds == ()
    for bad in ("explode", "rate=2", "expire=soon", "in-a-row=0"):
        with pytest.raises(ValueError, match="fault"):
            FaultPlan.parse(bad)
    with pytest.raises(SystemExit):
        main(["--faults", "explode"])


def test_the_default_sandbox_serves_no_fault_and_logs_every_request() -> None:
    with Sandbox(seed=5, records=30, vendors=("tixngo",)) as sandbox:
        output = run_tap(source_config(sandbox, "tixngo"))
        log = requests.get(sandbox.base_url + "/_sandbox/requests", timeout=5).json()["requests"]
    assert len(output.records("tixngo_ticket_status_logs")) == 30
    assert log
    assert all(entry["fault"] is None and entry["status"] == 200 for entry in log)
    assert [entry["at"] for entry in log] == sorted(entry["at"] for entry in log)


@pytest.mark.parametrize("kind", [kind for kind in FAULT_KINDS if kind != "slow"])
@pytest.mark.parametrize("source", sorted(STREAMS))
def test_every_request_failing_once_changes_nothing(source: str, kind: str) -> None:
    """Logins and token requests included: each one first gets the fault, then the answer."""
    with Sandbox(seed=9, records=40, vendors=(source,)) as clean_sandbox:
        clean = run_tap(_config(clean_sandbox, source))
    spec = f"{kind},rate=1,in-a-row=1,retry-after=0"
    with Sandbox(seed=9, records=40, vendors=(source,), faults=spec) as sandbox:
        faulty = run_tap(_config(sandbox, source))
        log = list(sandbox.request_log)
    for stream, fields in STREAMS[source].items():
        assert _keys(faulty, stream, fields) == _keys(clean, stream, fields), stream
    assert faulty.final_state == clean.final_state
    first_attempts = {entry["key"]: entry for entry in reversed(log)}
    assert all(entry["fault"] == kind for entry in first_attempts.values())


# What the one line names when every answer is another server's JSON: the first request
# of each source (its login or token request, or TIXNGO's first page).
FOREIGN_EVERYWHERE = {
    "tixngo": "an answer without 'result' (its keys: code, message), not this endpoint's",
    "akana": "Akana login answered without a AtmoAuthToken_acmepaymentscorp cookie",
    "socialboards": "an answer without 'access_token' or 'error' (its keys: code, message)",
    "huawei": "IAM login: HTTP 200 an answer without 'token' or 'error' or 'error_code'",
}


@pytest.mark.parametrize("source", sorted(STREAMS))
def test_another_servers_json_behind_a_200_is_never_an_empty_page(
    source: str, tmp_path: Path
) -> None:
    """A gateway's JSON error object on every answer: retried, then one line; no record,
    no bookmark (read as an empty page, it would have moved every bookmark to the end)."""
    spec = "foreign,rate=1,in-a-row=99"
    with Sandbox(seed=9, records=40, vendors=(source,), faults=spec) as sandbox:
        result = run_cli(config={**_config(sandbox, source), "max_retries": 1}, tmp_path=tmp_path)
        attempts = len(sandbox.request_log)
    assert result.returncode == 1, result.stderr[-2000:]
    (line,) = error_lines(result.stderr)
    assert FOREIGN_EVERYWHERE[source] in line
    assert "(gave up after 2 attempts)" in line
    assert attempts >= 2
    assert '"type":"RECORD"' not in result.stdout
    assert "replication_key_value" not in result.stdout
