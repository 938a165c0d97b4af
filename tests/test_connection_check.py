"""``tap-ticketlogs --test``: one line per configured source, ok or what failed."""

from __future__ import annotations

from pathlib import Path

from tap_ticketlogs.sandbox.server import Sandbox
from tap_ticketlogs.sources.registry import SOURCES
from tests.helpers import run_cli


def check_lines(stderr: str) -> dict[str, str]:
    prefix = "tap-ticketlogs: test: "
    lines = [line.removeprefix(prefix) for line in stderr.splitlines() if line.startswith(prefix)]
    return dict(line.split(": ", 1) for line in lines)


def test_every_configured_source_is_reported_ok(sandbox: Sandbox, tmp_path: Path) -> None:
    result = run_cli("--test", config=sandbox.tap_config(), tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert check_lines(result.stderr) == {source.name: "ok" for source in SOURCES}
    assert len(SOURCES) >= 4
    assert '"type":"RECORD"' not in result.stdout  # a check, not an extraction


def test_failures_are_named_per_source_without_secrets(sandbox: Sandbox, tmp_path: Path) -> None:
    config = sandbox.tap_config()
    config["tixngo"]["api_key"] = "wrong-tixngo-key-123"
    config["akana"]["password"] = "wrong-akana-password"
    config["huawei"]["case_ids"] = ["CS-DOES-NOT-EXIST"]
    result = run_cli("--test", config=config, tmp_path=tmp_path)
    assert result.returncode == 1
    lines = check_lines(result.stderr)
    assert lines["socialboards"] == "ok"
    assert lines["tixngo"].startswith("FAILED: TIXNGO")
    assert "HTTP 401" in lines["tixngo"]
    assert "Akana rejected the login" in lines["akana"]
    assert "case_id=CS-DOES-NOT-EXIST" in lines["huawei"]
    assert "HTTP 404" in lines["huawei"]
    for secret in ("wrong-tixngo-key-123", "wrong-akana-password"):
        assert secret not in result.stderr + result.stdout
