"""Invalid configuration: one line naming the setting, exit 1, no traceback, no request."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tap_ticketlogs.settings.environment import env_settings
from tap_ticketlogs.tap import TapTicketLogs
from tests.helpers import error_lines, run_cli

VALID_TIXNGO = {
    "base_url": "https://tixngo.example",
    "api_key": "super-secret-api-key",
    "mobile_app_ids": ["app-1"],
}


def config_with(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {"start_date": "2026-01-01T00:00:00Z", "tixngo": dict(VALID_TIXNGO)}
    for key, value in overrides.items():
        if key.startswith("tixngo__"):
            setting = key.removeprefix("tixngo__")
            if value is None:
                config["tixngo"].pop(setting)
            else:
                config["tixngo"][setting] = value
        elif value is None:
            config.pop(key)
        else:
            config[key] = value
    return config


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (config_with(tixngo__page_size=10_001), "setting 'tixngo.page_size' is invalid"),
        (config_with(tixngo__api_key=None), "setting 'tixngo.api_key' is required"),
        (config_with(tixngo__mobile_app_ids=None), "setting 'tixngo.mobile_app_ids' is required"),
        (config_with(tixngo__mobile_app_ids=[]), "'tixngo.mobile_app_ids' must list"),
        (
            config_with(start_date="2026-02-01T00:00:00Z", end_date="2026-01-01T00:00:00Z"),
            "setting 'start_date' is after 'end_date'",
        ),
        (
            config_with(tixngo__base_url="http://tixngo.example"),
            "setting 'tixngo.base_url' must be an https URL",
        ),
        (config_with(tixngo__auth_scheme="digest"), "setting 'tixngo.auth_scheme' must be one of"),
        (config_with(tixngo__auth_scheme="basic"), "setting 'tixngo.email' is required"),
        (config_with(start_date=None), "setting 'start_date' is required"),
        # Found by the config fuzz: an empty start_date reached pendulum's parser unguarded.
        (config_with(start_date=""), "setting 'start_date' is not an ISO-8601 date-time: ''"),
        (config_with(tixngo=None), "no source is configured"),
        (config_with(max_concurrency=0), "setting 'max_concurrency' is invalid"),
        # Whole numbers arrive as text from Meltano (kind string) and the environment.
        (config_with(lag_minutes="abc"), "setting 'lag_minutes' must be a whole number, not 'abc'"),
        (config_with(tixngo__window_hours="1.5"), "setting 'tixngo.window_hours' must be a whole"),
        (config_with(tixngo__page_size="10001"), "setting 'tixngo.page_size' is invalid"),
        (config_with(tixngo__mobile_app_ids='["a",'), "'tixngo.mobile_app_ids' must be a JSON"),
        # Typos name the closest known setting instead of being ignored.
        (
            config_with(max_concurency=4),
            "unknown setting 'max_concurency': did you mean 'max_concurrency'?",
        ),
        (
            config_with(tixngo__api_kye="x"),
            "unknown setting 'tixngo.api_kye': did you mean 'tixngo.api_key'?",
        ),
        (config_with(colour="blue"), "unknown setting 'colour'; tap-ticketlogs --about lists"),
        # A name with a line break (found by the config fuzzer) is shown escaped: one line.
        (config_with(**{"lag\nminutes": 1}), "unknown setting 'lag\\nminutes'"),
        # Other SDK taps accept it; here it would have the loader delete rows (see tap.py).
        (
            config_with(emit_activate_version_messages=True),
            "setting 'emit_activate_version_messages' is not supported: this tap never sends",
        ),
        (
            {
                "start_date": "2026-01-01T00:00:00Z",
                "akana": {
                    "base_url": "https://akana.example",
                    "fed_member_id": "acme",
                    "app_version_ids": ["v1"],
                    "page_size": 1001,
                },
            },
            "setting 'akana.page_size' is invalid",
        ),
        (
            {
                "start_date": "2026-01-01T00:00:00Z",
                "socialboards": {
                    "base_url": "https://sb.example",
                    "access_token": "t0ken-1234",
                    "page_size": 51,
                },
            },
            "setting 'socialboards.page_size' is invalid",
        ),
        (
            {
                "start_date": "2026-01-01T00:00:00Z",
                "huawei": {
                    "base_url": "https://hw.example",
                    "auth_token": "t0ken-1234",
                    "page_size": 101,
                },
            },
            "setting 'huawei.page_size' is invalid",
        ),
        (
            {
                "start_date": "2026-01-01T00:00:00Z",
                "akana": {
                    "base_url": "https://akana.example",
                    "fed_member_id": "acme",
                    "app_version_ids": ["v1"],
                    "environment": "Staging",
                },
            },
            "setting 'akana.environment' must be one of 'Production', 'Sandbox'",
        ),
    ],
)
def test_invalid_config_is_one_line(config: dict[str, Any], expected: str, tmp_path: Path) -> None:
    result = run_cli(config=config, tmp_path=tmp_path)
    assert result.returncode == 1
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]
    assert "Traceback" not in result.stderr
    assert "super-secret-api-key" not in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("mode", ["--discover", "--test"])
def test_an_invalid_config_leaves_no_file_open(mode: str, tmp_path: Path) -> None:
    # As Meltano calls it: config, then the state file, then the mode; warnings shown once.
    config, state = tmp_path / "tap.config.json", tmp_path / "state.json"
    config.write_text(json.dumps(config_with(max_concurrency=0)))
    state.write_text('{"bookmarks": {}}')
    result = run_cli(
        "--config",
        str(config),
        "--state",
        str(state),
        mode,
        tmp_path=tmp_path,
        env={"PYTHONWARNINGS": "once"},
    )
    assert result.returncode == 1
    assert "ResourceWarning" not in result.stderr, result.stderr
    assert result.stderr.splitlines()[-1].startswith("tap-ticketlogs: error: setting 'max_con")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]"])
def test_plain_http_is_accepted_on_loopback(host: str, tmp_path: Path) -> None:
    config = config_with(tixngo__base_url=f"http://{host}:9")
    result = run_cli("--discover", config=config, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "tixngo_ticket_status_logs" in result.stdout


def test_whole_numbers_and_lists_given_as_text_are_read() -> None:
    config = config_with(
        lag_minutes="0",
        max_retries=" 3 ",
        tixngo__page_size="500",
        tixngo__mobile_app_ids="app-1, app-2",
        tixngo__action_names='["Download"]',
    )
    tap = TapTicketLogs(config=config, validate_config=True)
    assert tap.config["tixngo"]["mobile_app_ids"] == ["app-1", "app-2"]
    assert tap.config["tixngo"]["action_names"] == ["Download"]
    assert tap.config["lag_minutes"] == 0
    assert tap.config["max_retries"] == 3
    assert tap.config["tixngo"]["page_size"] == 500
    socialboards = {"base_url": "https://sb.example", "access_token": "t0ken-1234"}
    tap = TapTicketLogs(
        config={**config, "socialboards": {**socialboards, "ticket_ids": "7,8"}},
        validate_config=True,
    )
    assert tap.config["socialboards"]["ticket_ids"] == [7, 8]


def test_only_configured_sources_are_discovered(tmp_path: Path) -> None:
    result = run_cli("--discover", config=config_with(), tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    catalog = json.loads(result.stdout)
    assert [entry["tap_stream_id"] for entry in catalog["streams"]] == ["tixngo_ticket_status_logs"]


def test_section_settings_from_the_environment(tmp_path: Path) -> None:
    # Every setting from the environment, named as the SDK's `--config ENV` names them.
    env = {
        "TAP_TICKETLOGS_START_DATE": "2026-01-01T00:00:00Z",
        "TAP_TICKETLOGS_TIXNGO_BASE_URL": "https://tixngo.example",
        "TAP_TICKETLOGS_TIXNGO_API_KEY": "env-secret-api-key",
        "TAP_TICKETLOGS_TIXNGO_MOBILE_APP_IDS": '["app-1", "app-2"]',
        "TAP_TICKETLOGS_TIXNGO_PAGE_SIZE": "10001",
    }
    result = run_cli("--config", "ENV", "--discover", tmp_path=tmp_path, env=env)
    assert result.returncode == 1
    (line,) = error_lines(result.stderr)
    assert "setting 'tixngo.page_size' is invalid" in line  # typed as an integer, then checked
    assert "env-secret-api-key" not in result.stderr

    env["TAP_TICKETLOGS_TIXNGO_PAGE_SIZE"] = "500"
    result = run_cli("--config", "ENV", "--discover", tmp_path=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["streams"][0]["tap_stream_id"] == "tixngo_ticket_status_logs"


def test_env_settings_are_typed_by_the_schema() -> None:
    env = {
        "TAP_TICKETLOGS_LAG_MINUTES": "5",
        "TAP_TICKETLOGS_FLATTENING_ENABLED": "true",
        "TAP_TICKETLOGS_FLATTENING_MAX_DEPTH": "1",
        "TAP_TICKETLOGS_AKANA_APP_VERSION_IDS": "v1,v2",
        "TAP_TICKETLOGS_AKANA_WINDOW_HOURS": "6",
    }
    found = env_settings(
        TapTicketLogs.full_settings_schema(), ("tixngo", "akana"), "TAP_TICKETLOGS_", env
    )
    # Whole numbers and lists stay text here, as Meltano passes them; the tap reads them.
    assert found == {
        "lag_minutes": "5",
        "flattening_enabled": True,
        "flattening_max_depth": "1",
        "akana": {"app_version_ids": "v1,v2", "window_hours": "6"},
    }
    akana = {"base_url": "https://akana.example", "fed_member_id": "acme", "auth_token": "t0ken"}
    found["akana"].update(akana)
    tap = TapTicketLogs(config={**config_with(), **found}, validate_config=True)
    assert tap.config["lag_minutes"] == 5
    assert tap.config["akana"]["window_hours"] == 6
    assert tap.config["akana"]["app_version_ids"] == ["v1", "v2"]
    assert tap.config["flattening_max_depth"] == 1
