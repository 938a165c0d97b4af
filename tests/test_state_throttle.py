"""STATE throttling: at most one STATE per interval mid-run, the last one always, none lost."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tap_ticketlogs.sandbox.server import Sandbox
from tap_ticketlogs.sources.tixngo.sandbox import MOBILE_APPS, TixngoAPI
from tap_ticketlogs.streams import state_throttle
from tap_ticketlogs.streams.records import log_key
from tap_ticketlogs.streams.state_throttle import StateThrottle
from tests.helpers import (
    FakeClock,
    TapOutput,
    error_lines,
    interrupted_run,
    run_cli,
    run_tap,
    source_config,
)

STREAM = "tixngo_ticket_status_logs"


def test_a_state_passes_once_per_interval_and_always_when_final() -> None:
    clock = FakeClock(step=0.0)
    throttle = StateThrottle(10, clock=clock)
    assert not throttle.allow()  # the interval counts from the run's start
    clock.now = 10.0
    assert throttle.allow()
    clock.now = 19.0
    assert not throttle.allow()
    with throttle.final():
        assert throttle.allow()  # a stream's last STATE is never held back
    assert not throttle.allow()  # ... and the interval starts again from it
    clock.now = 29.0
    assert throttle.allow()
    assert (throttle.written, throttle.held) == (3, 3)
    every = StateThrottle(0, clock=clock)
    assert all(every.allow() for _ in range(5))


@pytest.fixture
def tixngo() -> Iterator[Sandbox]:
    with Sandbox(seed=3, records=600, vendors=("tixngo",)) as running:
        yield running


def tixngo_config(sandbox: Sandbox, interval: int, **section: Any) -> dict[str, Any]:
    config = source_config(sandbox, "tixngo", window_hours=24, **section)
    config["state_interval_seconds"] = interval
    return config


def test_every_sdk_state_passes_the_throttle(tixngo: Sandbox) -> None:
    # 3 apps x 30 windows: a STATE after each window without throttling; with a long
    # interval only the stream's last. If the SDK wrote STATE other than through
    # Stream._write_state_message, the second count would not drop to 1.
    every_window = run_tap(tixngo_config(tixngo, 0))
    throttled = run_tap(tixngo_config(tixngo, 3600))
    assert len(every_window.states) >= 90
    assert len(throttled.states) == 1
    assert throttled.final_state == every_window.final_state
    assert len(throttled.records(STREAM)) == len(every_window.records(STREAM)) == 600


def test_a_small_interval_writes_some_states_and_resumes_without_loss(
    tixngo: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A clock 0.4 s faster per reading and an interval of 1 s: about one STATE in three.
    monkeypatch.setattr(state_throttle, "_monotonic", FakeClock(step=0.4))
    config = tixngo_config(tixngo, 1)
    full = run_tap(config)
    assert 10 < len(full.states) < 60
    messages = full.messages
    everything = {record["log_key"] for record in full.records(STREAM)}
    for cut in [i for i, m in enumerate(messages) if m["type"] == "STATE"][::7]:
        before = {m["record"]["log_key"] for m in messages[:cut] if m["type"] == "RECORD"}
        after = {
            r["log_key"] for r in run_tap(config, state=messages[cut]["value"]).records(STREAM)
        }
        assert before | after == everything


def test_a_fatal_error_writes_the_held_back_state_first(tixngo: Sandbox, tmp_path: Path) -> None:
    apps = sorted(MOBILE_APPS)[:2]
    config = tixngo_config(tixngo, 3600, mobile_app_ids=[*apps, "no-such-app"])
    config["max_concurrency"] = 1
    result = run_cli(config=config, tmp_path=tmp_path)
    assert result.returncode == 1
    (line,) = error_lines(result.stderr)
    assert "mobile_app_id=no-such-app" in line
    assert "HTTP 404" in line
    output = TapOutput.parse(result.stdout)
    # The only STATE is the one written on the way out: both finished apps at the end.
    (state,) = output.states
    marks = {
        p["context"]["mobile_app_id"]: p.get("replication_key_value")
        for p in state["bookmarks"][STREAM]["partitions"]
    }
    assert marks == {**dict.fromkeys(apps, config["end_date"]), "no-such-app": None}


def test_sigterm_writes_the_held_back_state_and_a_resumed_run_loses_nothing(
    tmp_path: Path,
) -> None:
    with Sandbox(seed=5, records=600, latency_ms=40, vendors=("tixngo",)) as sandbox:
        config = tixngo_config(sandbox, 3600)
        config["max_concurrency"] = 2
        seen = interrupted_run(
            config,
            tmp_path,
            lambda seen: sum(1 for m in seen if m["type"] == "RECORD") == 200,
            signal.SIGTERM,
            read_after_signal=True,
        )
        states = [m["value"] for m in seen if m["type"] == "STATE"]
        assert states, "SIGTERM wrote no STATE"
        last_state = states[-1]
        before = {m["record"]["log_key"] for m in seen if m["type"] == "RECORD"}
        resumed = run_tap(config, state=last_state)
        api = sandbox.vendors["tixngo"]
        assert isinstance(api, TixngoAPI)
        expected = {
            log_key(entry, app)
            for app in MOBILE_APPS
            for entry in api.matching(app, api.start, api.until)
        }
    after = {record["log_key"] for record in resumed.records(STREAM)}
    assert 200 <= len(before) < len(expected)  # the signal really cut the run short
    assert before | after == expected
    # The held-back bookmarks were written: the resumed run did not start over.
    assert len(after) < len(expected) - 100
