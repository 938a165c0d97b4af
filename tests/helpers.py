"""Running the tap in-process or as a command, and reading its Singer output."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tap_ticketlogs.sandbox.core import VendorAPI
from tap_ticketlogs.sandbox.server import Sandbox
from tap_ticketlogs.tap import TapTicketLogs

API = TypeVar("API", bound=VendorAPI)

TAP_COMMAND = str(Path(sys.executable).with_name("tap-ticketlogs"))


@dataclass
class TapOutput:
    """The Singer messages one run wrote, by type."""

    messages: list[dict[str, Any]]

    @classmethod
    def parse(cls, text: str) -> TapOutput:
        return cls([json.loads(line) for line in text.splitlines() if line.strip()])

    def records(self, stream: str) -> list[dict[str, Any]]:
        return [
            m["record"] for m in self.messages if m["type"] == "RECORD" and m["stream"] == stream
        ]

    @property
    def states(self) -> list[dict[str, Any]]:
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    @property
    def final_state(self) -> dict[str, Any]:
        return self.states[-1]

    def schema(self, stream: str) -> dict[str, Any]:
        return next(m for m in self.messages if m["type"] == "SCHEMA" and m["stream"] == stream)


def run_tap(
    config: Mapping[str, Any],
    *,
    state: Mapping[str, Any] | None = None,
    catalog: Mapping[str, Any] | None = None,
) -> TapOutput:
    """Sync in this process and return what went to stdout."""
    tap = TapTicketLogs(
        config=dict(config),
        state=dict(state) if state else None,
        catalog=dict(catalog) if catalog else None,
    )
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        tap.sync_all()
    return TapOutput.parse(buffer.getvalue())


def run_cli(
    *args: str,
    config: Mapping[str, Any] | None = None,
    tmp_path: Path,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the ``tap-ticketlogs`` command, with ``config`` written to a file if given."""
    command = [TAP_COMMAND, *args]
    if config is not None:
        config_path = tmp_path / "config.json"
        config_path.write_text(json.dumps(config))
        command += ["--config", str(config_path)]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
        check=False,
    )


def error_lines(stderr: str) -> list[str]:
    """The lines the CLI reports as errors (its own one-line format)."""
    return [line for line in stderr.splitlines() if line.startswith("tap-ticketlogs: error:")]


def source_config(sandbox: Sandbox, source: str, **section: Any) -> dict[str, Any]:
    """The sandbox's ready config reduced to one source, with ``section`` settings changed."""
    config = sandbox.tap_config()
    config[source].update(section)
    return {key: config[key] for key in ("start_date", "end_date", "lag_minutes", source)}


def vendor_api(sandbox: Sandbox, source: str, api_type: type[API]) -> API:
    """The simulator of one source, typed, to read its ground truth."""
    api = sandbox.vendors[source]
    assert isinstance(api, api_type)
    return api


class FakeClock:
    """A monotonic clock that moves ``step`` seconds each time it is read (for the STATE
    throttle: ``monkeypatch.setattr(state_throttle, "_monotonic", FakeClock(0.4))``)."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def interrupted_run(
    config: Mapping[str, Any],
    tmp_path: Path,
    stop_when: Callable[[list[dict[str, Any]]], bool],
    signal_number: int,
    *,
    read_after_signal: bool,
) -> list[dict[str, Any]]:
    """Run the tap's command, send it ``signal_number`` once ``stop_when(messages so far)``
    holds, and return the messages read: up to the signal, or (``read_after_signal``)
    also what the process wrote before it exited."""
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    process = subprocess.Popen(
        [TAP_COMMAND, "--config", str(config_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    seen: list[dict[str, Any]] = []
    for line in process.stdout:
        seen.append(json.loads(line))
        if stop_when(seen):
            process.send_signal(signal_number)
            break
    if read_after_signal:
        seen.extend(json.loads(line) for line in process.stdout)
    process.wait(timeout=60)
    process.stdout.close()
    return seen
