"""Property-based fuzzing: hostile configs and hostile response bodies of every endpoint.

Every case must end in correct records or one clear error line: never a traceback (an
exception other than the tap's one-line errors), a hang, a secret in any output, or a STATE
that skips data.

Bounded for CI: a few examples per property. Run longer with, e.g.::

    TICKETLOGS_FUZZ_EXAMPLES=2000 .venv/bin/pytest tests/test_fuzz.py -q

(hypothesis keeps the failing examples it finds in .hypothesis/ and replays them first).
"""

from __future__ import annotations

import copy
import io
import json
import logging
import os
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import redirect_stdout
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tap_ticketlogs.errors import TicketLogsError
from tap_ticketlogs.http.redaction import REDACTOR
from tap_ticketlogs.sandbox.server import Sandbox
from tap_ticketlogs.tap import TapTicketLogs
from tests.helpers import TapOutput, source_config
from tests.redirect_servers import LoopbackServer, Received, forward

# Examples per property; CI's default keeps both properties near 30 s together.
FUZZ_EXAMPLES = os.environ.get("TICKETLOGS_FUZZ_EXAMPLES")
CONFIG_EXAMPLES = int(FUZZ_EXAMPLES or 50)
BODY_EXAMPLES = int(FUZZ_EXAMPLES or 20)
# A run that takes longer than this is a hang (the sandbox answers in milliseconds).
HANG_SECONDS = 60


def fuzz_settings(max_examples: int) -> settings:
    return settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        # CI runs the same examples every time (a failure there replays locally).
        derandomize=bool(os.environ.get("CI")),
    )


SOURCES = ("tixngo", "akana", "socialboards", "huawei")
SECRET_KEYS = ("api_key", "auth_token", "csrf_token", "password", "refresh_token", "access_token")
PRIMARY_KEYS = {
    "tixngo_ticket_status_logs": "log_key",
    "akana_transaction_logs": "TransactionID",
    "socialboards_tickets": "id",
    "socialboards_ticket_logs": "log_key",
    "huawei_cases": "incident_id",
    "huawei_case_operate_logs": "incident_log_id",
}


@dataclass
class Outcome:
    output: TapOutput | None
    error: BaseException | None
    logs: str


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def run_guarded(config: dict[str, Any]) -> Outcome:
    """Run the tap in a thread; a run still going after HANG_SECONDS fails the test."""
    result: dict[str, Any] = {}
    capture = _Capture()
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)

    def target() -> None:
        buffer = io.StringIO()
        try:
            with redirect_stdout(buffer):
                TapTicketLogs(config=copy.deepcopy(config)).sync_all()
        except BaseException as exc:  # noqa: BLE001 - judged by the caller
            result["error"] = exc
        result["stdout"] = buffer.getvalue()

    worker = threading.Thread(target=target, daemon=True)
    try:
        worker.start()
        worker.join(HANG_SECONDS)
    finally:
        root.removeHandler(capture)
        root.setLevel(previous_level)
    assert not worker.is_alive(), f"the tap hung for {HANG_SECONDS} s"
    error = result.get("error")
    output = None if error else TapOutput.parse(result["stdout"])
    return Outcome(output, error, "\n".join(capture.lines) + result.get("stdout", ""))


def secrets_of(config: Any) -> list[str]:
    found: list[str] = []
    if isinstance(config, dict):
        for key, value in config.items():
            if key in SECRET_KEYS and isinstance(value, str) and len(value) >= 6:
                found.append(value)
            found.extend(secrets_of(value))
    elif isinstance(config, list):
        for value in config:
            found.extend(secrets_of(value))
    return found


def assert_clean_outcome(outcome: Outcome, secrets: list[str]) -> None:
    """A one-line error of the tap's own, or records; no secret anywhere."""
    if outcome.error is not None:
        assert isinstance(outcome.error, TicketLogsError), (
            f"not a one-line error: {type(outcome.error).__name__}: {outcome.error!r}"
        )
        message = REDACTOR.redact(str(outcome.error))
        assert message
        assert "\n" not in message, message
        everything = message + outcome.logs
    else:
        everything = outcome.logs
    leaked = [secret for secret in secrets if secret in everything]
    assert not leaked, "a secret was printed"


# -- configs ----------------------------------------------------------------------------

ODD_DATES = st.sampled_from(
    [
        "2026-02-30T00:00:00Z",
        "2026-01-01",
        "2026-01-01T00:00:00",
        "2026-01-01T00:00:00+14:00",
        "2026-01-01T00:00:00.123456789Z",
        "2026-W01-1",
        "20260101T000000Z",
        "1767225600",
        "yesterday",
        "",
        "2025-12-31T23:59:60Z",
        "2026-01-15T00:00:00-12:00",
    ]
)
HOSTILE_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.just("x" * 100_000),
    st.just("\u202e\u0000\U0001f600 ünïcødé"),
    ODD_DATES,
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


def config_paths(config: dict[str, Any]) -> list[tuple[str, ...]]:
    paths: list[tuple[str, ...]] = []
    for key, value in config.items():
        paths.append((key,))
        if isinstance(value, dict):
            paths.extend((key, inner) for inner in value)
    return paths


@st.composite
def mutated_configs(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    config = copy.deepcopy(base)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = config_paths(config)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent: Any = config
        for part in path[:-1]:
            parent = parent[part]
        if not isinstance(parent, dict):
            continue
        operation = draw(st.sampled_from(["delete", "replace", "extra"]))
        if operation == "delete":
            parent.pop(path[-1], None)
        elif operation == "replace":
            parent[path[-1]] = draw(HOSTILE_VALUES)
        else:
            parent[draw(st.text(min_size=1, max_size=12))] = draw(HOSTILE_VALUES)
    return config


@pytest.fixture(scope="module")
def fuzz_sandbox() -> Iterator[Sandbox]:
    with Sandbox(seed=13, records=20) as running:
        yield running


def _small_config(sandbox: Sandbox) -> dict[str, Any]:
    config = sandbox.tap_config()
    # A short range keeps each example fast; a mutation may widen it.
    config["end_date"] = "2026-01-03T00:00:00Z"
    config.update(request_timeout=5, max_retries=1)
    return config


def test_fuzzed_configs_end_in_records_or_one_line(
    fuzz_sandbox: Sandbox, record_property: Any
) -> None:
    base = _small_config(fuzz_sandbox)
    secrets = secrets_of(base)
    outcomes: Counter[str] = Counter()
    # What the sandbox serves for the base config: a fuzzed secret that is also a value of
    # the data (a date's first characters, "2026-0") shows up in the records without having
    # leaked, so it proves nothing there. The base config's own secrets are never data.
    clean = run_guarded(base)
    assert clean.output is not None, clean.error
    served = json.dumps(clean.output.messages)
    assert not [secret for secret in secrets if secret in served]

    @fuzz_settings(CONFIG_EXAMPLES)
    @given(mutated_configs(base))
    def check(config: dict[str, Any]) -> None:
        outcome = run_guarded(config)
        result = type(outcome.error).__name__ if outcome.error else "records"
        event(f"config: {result}")
        outcomes[result] += 1
        fuzzed = [secret for secret in secrets_of(config) if secret not in served]
        assert_clean_outcome(outcome, secrets + fuzzed)

    check()
    record_property("fuzz_outcomes", dict(outcomes))
    print(f"config fuzz outcomes: {dict(outcomes)}")  # noqa: T201 - figures for the report


# -- response bodies ----------------------------------------------------------------------

BODY_MUTATIONS = ("retype", "delete", "duplicate", "huge_page", "non_utf8", "replace_body")


@dataclass
class Mutation:
    """What to do to the first answer of one route (and to every retry of that request)."""

    route: str
    kind: str
    path_choice: int
    value: Any
    target_key: str | None = None
    page_records: int = 0
    applied: int = 0
    #: The mutation replaced a whole page of records (a null list is an empty page, and
    #: `{}` an empty Akana page): that page, and the children of its parents, may be gone.
    dropped_page: bool = False
    #: The mutation deleted a page's list from an answer that still holds other keys: no
    #: longer the endpoint's answer, which a run must refuse rather than read as empty.
    deleted_page: bool = False


def json_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    paths: list[tuple[Any, ...]] = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, inner in value.items():
            paths.extend(json_paths(inner, (*prefix, key)))
    elif isinstance(value, list):
        for index, inner in enumerate(value[:3]):
            paths.extend(json_paths(inner, (*prefix, index)))
    return paths


def record_lists(value: Any) -> list[list[Any]]:
    """Lists of objects in a body: the pages of records."""
    found: list[list[Any]] = []
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        found.append(value)
    if isinstance(value, dict):
        for inner in value.values():
            found.extend(record_lists(inner))
    return found


def mutate_body(mutation: Mutation, body: bytes) -> bytes:
    if mutation.kind == "non_utf8":
        return body.replace(b'"', b'"\xff\xfe', 2) if body else b"\xff\xfe\xfd"
    if mutation.kind == "replace_body":
        mutation.dropped_page = True
        return (
            mutation.value
            if isinstance(mutation.value, bytes)
            else json.dumps(mutation.value).encode()
        )
    try:
        parsed = json.loads(body)
    except ValueError:
        return body
    pages = record_lists(parsed)
    mutation.page_records = max((len(page) for page in pages), default=0)
    if mutation.kind in ("duplicate", "huge_page"):
        for page in pages[:1]:
            copies = 2 if mutation.kind == "duplicate" else max(1, 3000 // max(1, len(page)))
            page[:] = [copy.deepcopy(item) for item in page for _ in range(copies)]
        return json.dumps(parsed).encode()
    paths = json_paths(parsed)
    if not paths:
        return body
    path = paths[mutation.path_choice % len(paths)]
    parent: Any = parsed
    for part in path[:-1]:
        parent = parent[part]
    holds_page = bool(record_lists(parent[path[-1]]))
    if mutation.kind == "delete" and isinstance(parent, dict):
        parent.pop(path[-1], None)
        if holds_page and parent is parsed and parsed:
            mutation.deleted_page = True
        else:
            mutation.dropped_page = mutation.dropped_page or holds_page
    else:
        mutation.dropped_page = mutation.dropped_page or holds_page
        parent[path[-1]] = mutation.value
    return json.dumps(parsed).encode()


class MutatingFront(LoopbackServer):
    """Forwards to the sandbox; the first request of ``mutation.route`` gets a mutated body."""

    def __init__(self, upstream: str, mutation: Mutation) -> None:
        super().__init__("127.0.0.1")
        self.upstream = urlsplit(upstream)
        self.mutation = mutation

    def answer(self, request: Received) -> tuple[int, list[tuple[str, str]], bytes]:
        status, headers, body = forward(self.upstream, request)
        mutation = self.mutation
        route = request.method + " " + request.path.split("?")[0]
        key = request.method + " " + request.path + request.body.hex()
        if mutation.target_key is None and _route_matches(mutation.route, route) and body:
            mutation.target_key = key
        if key == mutation.target_key:
            mutation.applied += 1
            body = mutate_body(mutation, body)
        return status, headers, body


def _route_matches(pattern: str, route: str) -> bool:
    method, _, template = pattern.partition(" ")
    got_method, _, path = route.partition(" ")
    parts, got = template.strip("/").split("/"), path.strip("/").split("/")
    return (
        method == got_method
        and len(parts) == len(got)
        and all(p.startswith("{") or p == g for p, g in zip(parts, got, strict=True))
    )


ROUTES = {
    "tixngo": ["GET /organizer/report/ticket-status-logs"],
    "akana": ["POST /api/login", "GET /api/apps/versions/{id}/txlogs"],
    "socialboards": ["POST /token", "POST /tickets/list", "POST /tickets/{id}/log"],
    "huawei": [
        "POST /v3/auth/tokens",
        "GET /v2/servicerequest/cases",
        "GET /v2/servicerequest/cases/{id}/operate-logs",
    ],
}
ROUTE_CHOICES = [(source, route) for source in SOURCES for route in ROUTES[source]]
BODY_VALUES = st.one_of(
    HOSTILE_VALUES,
    st.recursive(
        st.none() | st.integers() | st.text(max_size=8),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
        max_leaves=8,
    ),
    st.binary(max_size=30),
)


@st.composite
def mutations(draw: st.DrawFn) -> tuple[str, Mutation]:
    source, route = draw(st.sampled_from(ROUTE_CHOICES))
    kind = draw(st.sampled_from(BODY_MUTATIONS))
    value = draw(BODY_VALUES)
    if kind != "replace_body" and isinstance(value, bytes):
        value = value.decode("latin-1")
    return source, Mutation(route, kind, draw(st.integers(0, 10_000)), value)


@pytest.fixture(scope="module")
def clean_runs(fuzz_sandbox: Sandbox) -> dict[str, TapOutput]:
    runs: dict[str, TapOutput] = {}
    for source in SOURCES:
        outcome = run_guarded(_source_config(fuzz_sandbox, source, fuzz_sandbox.base_url))
        assert outcome.output is not None, outcome.error
        runs[source] = outcome.output
    return runs


def _source_config(sandbox: Sandbox, source: str, base_url: str) -> dict[str, Any]:
    config = source_config(sandbox, source)
    config.update(request_timeout=5, max_retries=1, max_concurrency=1)
    config[source]["base_url"] = base_url
    if "iam_url" in config[source]:
        config[source]["iam_url"] = base_url
    return config


def test_fuzzed_response_bodies_end_in_records_or_one_line(
    fuzz_sandbox: Sandbox, clean_runs: dict[str, TapOutput], record_property: Any
) -> None:
    outcomes: Counter[str] = Counter()

    @fuzz_settings(BODY_EXAMPLES)
    @given(mutations())
    def check(case: tuple[str, Mutation]) -> None:
        source, mutation = case
        with MutatingFront(fuzz_sandbox.base_url, mutation) as front:
            config = _source_config(fuzz_sandbox, source, front.base_url)
            outcome = run_guarded(config)
        result = type(outcome.error).__name__ if outcome.error else "records"
        event(f"body {source} {mutation.kind}: {result}")
        outcomes[f"{source} {result}"] += 1
        assert_clean_outcome(outcome, secrets_of(config) + fuzz_secrets(fuzz_sandbox))
        if outcome.output is None or mutation.dropped_page:
            return
        if mutation.deleted_page:
            # A run that succeeded after its page vanished must have read that page after
            # all (an applied mutation is served to every retry too: so never).
            assert not mutation.applied, (
                f"{source}: a page deleted from its answer was read as empty"
            )
        clean = clean_runs[source]
        for stream in {m["stream"] for m in clean.messages if m["type"] == "RECORD"}:
            key = PRIMARY_KEYS[stream]
            expected = {json.dumps(r.get(key)) for r in clean.records(stream)}
            got = {json.dumps(r.get(key)) for r in outcome.output.records(stream)}
            # Records of the mutated page may change or go; every other one must arrive.
            missing = expected - got
            assert len(missing) <= mutation.page_records, (
                f"{stream}: {len(missing)} records skipped by a run that succeeded"
            )
        if not (mutation.applied and mutation.kind in ("retype", "delete", "replace_body")):
            assert outcome.output.final_state == clean.final_state

    check()
    record_property("fuzz_outcomes", dict(outcomes))
    print(f"body fuzz outcomes: {dict(sorted(outcomes.items()))}")  # noqa: T201 - for the report


def fuzz_secrets(sandbox: Sandbox) -> list[str]:
    """Credentials the sandbox issued during the run (tokens, cookies)."""
    issued: list[str] = []
    for vendor in sandbox.vendors.values():
        for name in ("issued_tokens",):
            method = getattr(vendor, name, None)
            if method is not None:
                issued.extend(method())
        issued.extend(str(token) for token in getattr(vendor, "_tokens", {}))
    return [token for token in issued if len(token) >= 6]
