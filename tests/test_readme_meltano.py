"""The README's Meltano walkthrough, extracted from README.md and run as written.

Two substitutions keep it apart from other tests on a shared machine: the sandbox's port
(8765 in the README) becomes a free one, and the schema the stream-maps step loads into
(`ticketlogs_hashed`) a fresh one; the first loads go to a fresh schema through
TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA in the environment. It runs in a copy of the project
(meltano.yml, this repository's installed plugins), since `meltano config set` writes there.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from tap_ticketlogs.sandbox.server import Sandbox
from tests.test_meltano_e2e import (
    ROOT,
    column_types,
    installed,  # noqa: F401 - the shared module fixture: plugins installed once
    row_counts,
)
from tests.test_meltano_settings import copied_project

pytestmark = [pytest.mark.meltano, pytest.mark.postgres]

MARKER = "<!-- readme-test: meltano walkthrough -->"
SELECTED = ("socialboards_ticket_logs", "socialboards_tickets", "tixngo_ticket_status_logs")
LOG_STREAMS = ("socialboards_ticket_logs", "tixngo_ticket_status_logs")


def walkthrough() -> str:
    readme = (ROOT / "README.md").read_text()
    after = readme.split(MARKER, 1)[1]
    match = re.match(r"\s*```sh\n(.*?)\n```", after, re.DOTALL)
    assert match, "the walkthrough block follows its marker"
    return match.group(1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def summaries(output: str, stream: str) -> list[int]:
    """Records per run of a stream, from the tap's summary lines."""
    return [int(n) for n in re.findall(rf"summary {stream}: (\d+) records", output)]


def test_the_readme_meltano_walkthrough_runs_as_written(
    installed: None,  # noqa: F811 - the imported fixture
    postgres_dsn: str,
    tmp_path: Path,
) -> None:
    block = walkthrough()
    assert "meltano config set tap-ticketlogs " in block
    readme = (ROOT / "README.md").read_text()
    assert "meltano config tap-ticketlogs" not in readme  # the form Meltano 4 refuses

    schema = f"readme_{uuid.uuid4().hex[:10]}"
    port = free_port()
    script = block.replace("8765", str(port)).replace("ticketlogs_hashed", f"{schema}_hashed")
    project = copied_project(tmp_path)
    (project / "walkthrough.sh").write_text(
        "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n" + script + "\n"
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TAP_TICKETLOGS_", "TARGET_POSTGRES_", "MELTANO_"))
    }
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        MELTANO_DATABASE_URI=f"sqlite:///{tmp_path / 'meltano.db'}",
        MELTANO_SEND_ANONYMOUS_USAGE_STATS="false",
        TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA=schema,
    )
    # The walkthrough's sandbox, replayed here for its ground truth (same seed, same size).
    with Sandbox(records=200) as replica:
        january = replica.stats()["records"]
        replica.append(30)
        appended = replica.stats()["records"]

    with psycopg.connect(postgres_dsn, autocommit=True) as db:
        try:
            result = subprocess.run(
                ["bash", str(project / "walkthrough.sh")],
                cwd=project,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            output = result.stdout + result.stderr
            assert result.returncode == 0, output[-4000:]

            assert "tap-ticketlogs: test: tixngo: ok" in output
            assert "tap-ticketlogs: test: socialboards: ok" in output
            assert "Error" not in result.stderr.replace("error_code", "")
            # First run: January; second: only the appended entries; third: everything.
            for stream in LOG_STREAMS:
                assert summaries(output, stream) == [
                    january[stream],
                    appended[stream] - january[stream],
                    appended[stream],
                ], stream
            assert row_counts(db, schema) == {stream: appended[stream] for stream in SELECTED}

            hashed = f"{schema}_hashed"
            columns = column_types(db, hashed, "socialboards_ticket_logs")
            assert "user" not in columns
            assert "actionString" not in columns
            emails = db.execute(
                f'select distinct user__email from "{hashed}".socialboards_ticket_logs '
                "where user__email is not null"
            ).fetchall()
            assert emails
            assert all(re.fullmatch(r"[0-9a-f]{32}", email) for (email,) in emails)
        finally:
            for name in (schema, f"{schema}_hashed"):
                db.execute(f'drop schema if exists "{name}" cascade')
