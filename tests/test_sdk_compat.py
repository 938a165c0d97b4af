"""The singer-sdk internals named in tap_ticketlogs/sdk_compat.py still behave as relied on.

Each test names its entry: when one fails after an SDK upgrade, that entry (and only that
module) needs a change. The last test keeps every other module on the public API.
"""

from __future__ import annotations

import inspect
import io
import json
import re
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import click
import pytest
import requests
import singer_sdk
from pytest_httpserver import HTTPServer
from singer_sdk import RESTStream, Stream, Tap
from singer_sdk.authenticators import APIAuthenticatorBase, OAuthAuthenticator
from singer_sdk.plugin_base import PluginBase
from typing_extensions import override
from werkzeug import Request, Response

from tap_ticketlogs import sdk_compat
from tap_ticketlogs.errors import ConfigError
from tap_ticketlogs.sandbox.server import Sandbox
from tap_ticketlogs.sources.tixngo.streams import TixngoTicketStatusLogsStream
from tap_ticketlogs.streams.base import TicketLogsStream
from tap_ticketlogs.tap import TapTicketLogs
from tests.helpers import TapOutput, run_tap, source_config

PACKAGE = Path(sdk_compat.__file__).parent
TIXNGO_PATH = "/organizer/report/ticket-status-logs"


def tixngo_config(base_url: str) -> dict[str, Any]:
    return {
        "start_date": "2026-01-01T00:00:00Z",
        "end_date": "2026-01-02T00:00:00Z",
        "tixngo": {"base_url": base_url, "api_key": "compat-key-1", "mobile_app_ids": ["a"]},
    }


def test_config_check_the_sdk_validates_the_config_through_the_hook(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parameter = inspect.signature(PluginBase._validate_config).parameters.get("raise_errors")
    assert parameter is not None, (
        "sdk_compat [config check]: _validate_config(raise_errors=) is gone"
    )
    assert parameter.kind is inspect.Parameter.KEYWORD_ONLY
    with pytest.raises(ConfigError, match="start_date"):
        TapTicketLogs(config={"tixngo": tixngo_config("https://t.example")["tixngo"]})
    calls: list[bool] = []
    original = TapTicketLogs.check_config

    def recording(self: TapTicketLogs, config: Any, *, raise_errors: bool) -> None:
        calls.append(raise_errors)
        original(self, config, raise_errors=raise_errors)

    monkeypatch.setattr(TapTicketLogs, "check_config", recording)
    TapTicketLogs(config=tixngo_config("https://t.example"), validate_config=False)
    assert calls == [False], "sdk_compat [config check]: the SDK no longer calls _validate_config"


def test_owned_bookmarks_the_record_loop_advances_bookmarks_through_the_hook(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    increments: list[str] = []
    original = sdk_compat.SDKStream._increment_stream_state

    def counting(self: Stream, latest_record: dict[str, Any], **kwargs: Any) -> None:
        increments.append(self.name)
        original(self, latest_record, **kwargs)

    monkeypatch.setattr(sdk_compat.SDKStream, "_increment_stream_state", counting)
    with Sandbox(seed=5, records=60, vendors=("tixngo",)) as sandbox:
        output = run_tap(source_config(sandbox, "tixngo"))
    records = [m for m in output.messages if m["type"] == "RECORD"]
    assert len(records) == 60
    assert len(increments) == 60, "sdk_compat [owned bookmarks]: records no longer pass the hook"
    assert "_increment_stream_state" in inspect.getsource(Stream._sync_records)


def test_cli_config_the_config_option_is_read_from_the_cli_context(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(tixngo_config("https://t.example")))
    command = TapTicketLogs.cli
    assert isinstance(command, click.Command)
    with command.make_context("tap-ticketlogs", ["--config", str(path), "--config", "ENV"]) as ctx:
        assert sdk_compat.cli_config_input(ctx) == (tixngo_config("https://t.example"), True), (
            "sdk_compat [CLI config]: the SDK's --config value changed shape"
        )
    with command.make_context("tap-ticketlogs", ["--config", str(path)]) as ctx:
        assert sdk_compat.cli_config_input(ctx)[1] is False


def test_environment_prefix_the_environment_prefix_is_the_sdks() -> None:
    assert sdk_compat.env_var_prefix(TapTicketLogs.name) == "TAP_TICKETLOGS_"
    assert sdk_compat.env_var_prefix(TapTicketLogs.name) == TapTicketLogs._env_var_prefix, (
        "sdk_compat [environment prefix]: the SDK derives its environment prefix differently"
    )


class AttemptCountingAuthenticator(APIAuthenticatorBase):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    @override
    def authenticate_request(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        self.calls += 1
        request.headers["Authorization"] = f"Bearer attempt-{self.calls}"
        return request


def test_authentication_per_attempt_the_authenticator_runs_on_every_attempt(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = [
        Response('{"message": "busy"}', 503, content_type="application/json"),
        Response('{"message": "busy"}', 503, content_type="application/json"),
        Response('{"result": [], "pagination": {}}', 200, content_type="application/json"),
    ]
    seen: list[str | None] = []

    def answer(request: Request) -> Response:
        seen.append(request.headers.get("Authorization"))
        return answers.pop(0)

    httpserver.expect_request(TIXNGO_PATH).respond_with_handler(answer)
    authenticator = AttemptCountingAuthenticator()
    monkeypatch.setattr(
        TixngoTicketStatusLogsStream, "authenticator", property(lambda self: authenticator)
    )
    run_tap(tixngo_config(httpserver.url_for("").rstrip("/")))
    assert seen == ["Bearer attempt-1", "Bearer attempt-2", "Bearer attempt-3"], (
        "sdk_compat [authentication per attempt]: the SDK no longer authenticates each attempt "
        "inside its retries"
    )
    assert "self.authenticator(" in inspect.getsource(RESTStream._request)


def test_state_gate_sdk_state_messages_pass_the_gate(monkeypatch: pytest.MonkeyPatch) -> None:
    for method in (Stream._sync_records, Stream.finalize_state_progress_markers):
        assert "self._write_state_message()" in inspect.getsource(method), (
            f"sdk_compat [state gate]: {method.__name__} no longer writes STATE through the hook"
        )
    asked: list[str] = []
    monkeypatch.setattr(
        TicketLogsStream, "state_write_allowed", lambda self: asked.append(self.name) or False
    )
    with Sandbox(seed=2, records=30, vendors=("tixngo",)) as sandbox:
        output = run_tap({**source_config(sandbox, "tixngo"), "state_interval_seconds": 0})
    # Every STATE was refused: none went out, and the gate was asked for each.
    assert output.states == []
    assert asked, "sdk_compat [state gate]: the SDK wrote its STATE messages another way"


def test_last_state_a_stream_synced_on_its_own_ends_with_its_state() -> None:
    assert "self._write_state_message()" in inspect.getsource(Stream._sync_records)
    with Sandbox(seed=2, records=30, vendors=("tixngo",)) as sandbox:
        # An interval no run reaches: only a stream's last STATE can go out.
        tap = TapTicketLogs(
            config={**source_config(sandbox, "tixngo"), "state_interval_seconds": 3600}
        )
        buffer = io.StringIO()
        with redirect_stdout(buffer):
            tap.streams["tixngo_ticket_status_logs"].sync()  # no Tap.sync_all around it
    output = TapOutput.parse(buffer.getvalue())
    assert output.states, "sdk_compat [last STATE]: a stream's sync ended without its STATE"
    # Records wait in the tap's output block until a STATE follows them (output.py).
    assert output.records("tixngo_ticket_status_logs"), "the stream's records never went out"
    bookmarks = output.states[-1]["bookmarks"]["tixngo_ticket_status_logs"]
    assert bookmarks["partitions"], "the last STATE does not hold the stream's bookmarks"


def test_signal_handler_the_signal_handler_is_the_overridable_method() -> None:
    source = inspect.getsource(PluginBase._setup_signal_handlers)
    assert "signal.SIGTERM, self._handle_termination" in source, (
        "sdk_compat [signal handler]: SIGTERM is no longer handled by _handle_termination"
    )
    assert list(inspect.signature(Tap._handle_termination).parameters) == [
        "self",
        "signum",
        "frame",
    ]
    assert "write_state(self.state)" in inspect.getsource(Tap._handle_termination)


def test_failed_sync_a_failed_sync_reaches_the_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    called: list[bool] = []
    monkeypatch.setattr(TapTicketLogs, "on_fatal_error", lambda self: called.append(True))
    tap = TapTicketLogs(config=tixngo_config("http://127.0.0.1:9"))
    with pytest.raises(Exception, match="tixngo_ticket_status_logs"):
        tap.sync_all()
    assert called == [True], "sdk_compat [failed sync]: sync_all is no longer the tap's own"


def test_lean_record_write_every_record_is_written_through_the_hooks(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: list[dict[str, Any]] = []
    original = sdk_compat.SDKStream.write_record_as_sdk

    def recording(self: sdk_compat.SDKStream, record: dict[str, Any]) -> None:
        written.append(record)
        original(self, record)

    # Every record through the SDK's own path: each one must pass the hook and come out.
    monkeypatch.setattr(TixngoTicketStatusLogsStream, "write_record", recording)
    output = run_tap(source_config(sandbox, "tixngo"))
    records = output.records("tixngo_ticket_status_logs")
    assert len(written) == len(records) == 600, (
        "sdk_compat [lean record write]: records skip the hook"
    )
    assert records == written
    parameters = list(inspect.signature(Stream._process_record).parameters)
    assert parameters == ["self", "record", "child_context", "partition_context"], (
        "sdk_compat [lean record write]: _process_record changed"
    )
    loop = inspect.getsource(Stream._sync_records)
    assert "self._write_record_message(record)" in loop
    assert "self._process_record(" in loop
    assert "version=self._stream_version" in inspect.getsource(Stream._generate_record_messages)


def test_record_hook_every_record_passes_the_hook_in_both_record_modes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen: list[str] = []

    def counting(self: Stream, record: dict[str, Any]) -> dict[str, Any]:
        seen.append(self.name)
        return record

    monkeypatch.setattr(sdk_compat.SDKStream, "before_record_message", counting)
    monkeypatch.setattr(TixngoTicketStatusLogsStream, "before_record_message", counting)
    with Sandbox(seed=5, records=40, vendors=("tixngo",)) as sandbox:
        config = source_config(sandbox, "tixngo")
        records = [m for m in run_tap(config).messages if m["type"] == "RECORD"]
        assert len(records) == len(seen) == 40, "sdk_compat [record hook]: RECORD path changed"
        seen.clear()
        config["batch_config"] = {
            "encoding": {"format": "jsonl", "compression": "gzip"},
            "storage": {"root": f"file://{tmp_path}"},
        }
        batches = [m for m in run_tap(config).messages if m["type"] == "BATCH"]
    assert batches
    assert len(seen) == 40, "sdk_compat [record hook]: BATCH records no longer pass the hook"
    assert "_write_record_message" in inspect.getsource(Stream._sync_records)
    assert "_sync_records(" in inspect.getsource(Stream.get_batches)


def test_schema_republish_a_republished_schema_is_what_the_next_schema_message_says(
    capsys: pytest.CaptureFixture[str],
) -> None:
    tap = TapTicketLogs(config=tixngo_config("https://t.example"))
    stream = tap.streams["tixngo_ticket_status_logs"]
    assert stream.stream_maps, "sdk_compat [schema republish]: no stream maps"
    widened = json.loads(json.dumps(stream.stream_maps[0].raw_schema))
    widened["properties"]["gate"] = {"type": ["string", "null"]}
    capsys.readouterr()
    stream.republish_schema(widened)
    tap.message_writer.flush()  # type: ignore[attr-defined]
    (line,) = [x for x in capsys.readouterr().out.splitlines() if '"SCHEMA"' in x]
    assert json.loads(line)["schema"]["properties"]["gate"] == {"type": ["string", "null"]}, (
        "sdk_compat [schema republish]: the SCHEMA message does not carry the republished schema"
    )
    assert "gate" in stream.stream_maps[0].transformed_schema["properties"]


def sdk_private_names() -> tuple[set[str], set[str]]:
    """Underscored names of the SDK classes the tap builds on, and of its OAuth
    authenticators (checked only where one is subclassed: ``_session`` is a common name)."""
    root = Path(singer_sdk.__file__).parent
    assigned = re.compile(r"self\.(_[A-Za-z]\w*)\s*(?::[^=\n]+)?=")

    def private(*files: str, classes: tuple[type, ...]) -> set[str]:
        names = {
            name
            for cls in classes
            for name in dir(cls)
            if name.startswith("_") and not name.startswith("__")
        }
        for file in files:
            names |= set(assigned.findall((root / file).read_text()))
        return names

    plugin = private(
        "streams/core.py",
        "streams/rest.py",
        "plugin_base.py",
        "tap_base.py",
        classes=(Stream, RESTStream, Tap, PluginBase),
    )
    plugin.add("_ConfigInput")
    authenticators = private("authenticators.py", classes=(OAuthAuthenticator,))
    return plugin, authenticators - plugin


def test_no_other_module_uses_an_underscored_sdk_name() -> None:
    plugin, authenticators = sdk_private_names()
    assert {"_validate_config", "_increment_stream_state", "_tap", "_session"} <= (
        plugin | authenticators
    )
    used: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "sdk_compat.py" or "sandbox" in path.parts:
            continue
        text = path.read_text()
        subclasses_oauth = re.search(r"class \w+\([^)]*OAuth\w*Authenticator", text)
        names = plugin | (authenticators if subclasses_oauth else set())
        used += [
            f"{path.relative_to(PACKAGE)}: {match.group(1)}"
            for match in re.finditer(r"\b(_[A-Za-z]\w*)\b", text)
            if match.group(1) in names
        ]
        used += [
            f"{path.relative_to(PACKAGE)}: {match.group(0)}"
            for match in re.finditer(r"singer_sdk(\.\w+)*\._\w+", text)
        ]
    assert used == []
