"""PostgreSQL tests skip when the server is unreachable, except under CI, where they fail."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROBE = Path(__file__).with_name("postgres_probe.py")
UNREACHABLE = "host=127.0.0.1 port=9 user=postgres dbname=test connect_timeout=2"


def run_probe(*, ci: bool) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "CI"}
    env["TICKETLOGS_TEST_POSTGRES_DSN"] = UNREACHABLE
    if ci:
        env["CI"] = "true"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(PROBE)],
        cwd=PROBE.parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_unreachable_postgres_skips_outside_ci() -> None:
    result = run_probe(ci=False)
    assert result.returncode == 0, result.stdout
    assert "1 skipped" in result.stdout


def test_unreachable_postgres_fails_under_ci() -> None:
    result = run_probe(ci=True)
    assert result.returncode == 1, result.stdout
    assert "required under CI" in result.stdout
