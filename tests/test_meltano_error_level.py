"""The tap's one-line error keeps its level under Meltano, as on the command line.

meltano.yml declares `structured-logging`: Meltano then hands the tap a logging config whose
handler writes JSON (singer-sdk's StructuredFormatter) and reads each line's level from it. A
plain-text line would be logged at info, so the tap writes its one line through that handler's
formatter, at error.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tap_ticketlogs.sandbox.server import Sandbox
from tests.test_meltano_e2e import (
    MELTANO,
    ROOT,
    MeltanoProject,
    installed,  # noqa: F401 - the shared module fixture: plugins installed once
)

TAP = str(Path(sys.executable).with_name("tap-ticketlogs"))
# Meltano's console lines: time, [level], plugin name, message.
MELTANO_LINE = re.compile(r"^\S+ \[(?P<level>\w+)\s*\] (?P<name>\S+)\s+(?P<message>.*)$")


def test_meltano_yml_declares_the_capabilities_the_tap_advertises() -> None:
    # Meltano acts only on what meltano.yml declares: without structured-logging it logs
    # every line of the tap's stderr at info, whatever --about says.
    extractor = yaml.safe_load((ROOT / "meltano.yml").read_text())["plugins"]["extractors"][0]
    about = subprocess.run(
        [TAP, "--about", "--format=json"], capture_output=True, text=True, check=True
    )
    assert set(extractor["capabilities"]) == set(json.loads(about.stdout)["capabilities"])
    assert "structured-logging" in extractor["capabilities"]


def test_under_a_structured_logging_config_the_error_line_is_json_at_error(
    tmp_path: Path,
) -> None:
    # The config Meltano writes for a structured-logging plugin (SINGER_SDK_LOG_CONFIG).
    log_config = tmp_path / "logging.json"
    log_config.write_text(
        json.dumps(
            {
                "version": 1,
                "disable_existing_loggers": False,
                "formatters": {"structured": {"()": "singer_sdk.logging.StructuredFormatter"}},
                "handlers": {
                    "console": {
                        "class": "logging.StreamHandler",
                        "formatter": "structured",
                        "stream": "ext://sys.stderr",
                    }
                },
                "root": {"handlers": ["console"], "level": "INFO"},
            }
        )
    )
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"start_date": "2026-01-01T00:00:00Z", "lag_minutes": "abc"}))
    result = subprocess.run(
        [TAP, "--config", str(config), "--discover"],
        env={"SINGER_SDK_LOG_CONFIG": str(log_config), "PATH": ""},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    last = json.loads(result.stderr.splitlines()[-1])
    assert last["level"] == "error"
    assert last["message"] == (
        "tap-ticketlogs: error: setting 'lag_minutes' must be a whole number, not 'abc'"
    )


@pytest.mark.meltano
def test_a_failed_meltano_run_ends_the_taps_output_with_its_error_at_error_level(
    installed: None,  # noqa: F811 - the imported fixture
    tmp_path: Path,
) -> None:
    with Sandbox(seed=26, records=40, vendors=("akana",)) as sandbox:
        env = {
            key: value
            for key, value in MeltanoProject(sandbox, tmp_path, "unused").env.items()
            if key != "MELTANO_ENVIRONMENT" and not key.startswith("TAP_TICKETLOGS_")
        }
        config = sandbox.tap_config()
        env.update(
            {
                f"TAP_TICKETLOGS_{name.replace('.', '_').upper()}": value
                for name, value in {
                    "start_date": config["start_date"],
                    "end_date": config["end_date"],
                    "lag_minutes": "0",
                    "akana.base_url": config["akana"]["base_url"],
                    "akana.fed_member_id": config["akana"]["fed_member_id"],
                    "akana.email": config["akana"]["email"],
                    "akana.password": "not-the-sandbox-password",
                    "akana.app_version_ids": json.dumps(config["akana"]["app_version_ids"]),
                }.items()
            }
        )
        result = subprocess.run(
            [MELTANO, "run", "tap-ticketlogs", "target-jsonl"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    assert result.returncode == 1
    output = result.stdout + result.stderr
    tap_lines = [
        match
        for line in output.splitlines()
        if (match := MELTANO_LINE.match(line)) and match["name"] == "tap-ticketlogs"
    ]
    assert tap_lines, output[-3000:]
    last = tap_lines[-1]
    assert last["level"] == "error", output[-3000:]
    assert last["message"].startswith("tap-ticketlogs: error: Akana akana_transaction_logs [")
    assert "HTTP 401" in last["message"]
    assert output.count("tap-ticketlogs: error:") == 1
    assert "ResourceWarning" not in output
    assert "Traceback" not in output
