"""The README's Meltano walkthrough, extracted from README.md and run as written.

Two substitutions keep it apart from other tests on a shared machine: the sandbox's port
(8765 in the README) becomes a free one, and the schema the stream-maps step loads into
(`ticketlogs_hashed`) a fresh one; the first loads go to a fresh schema through
TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA in the environment. It runs twice (a rerun must be
harmless) in a fresh git checkout of this work tree's files, whose `git status` must be clean
afterwards: whatever else is uncommitted here, the check sees only what the walkthrough wrote.
The checkout's Meltano system directory links this repository's installed plugins.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from tap_ticketlogs.sandbox.server import Sandbox
from tests.test_meltano_e2e import (
    LOG_STREAMS,
    ROOT,
    column_types,
    installed,  # noqa: F401 - the shared module fixture: plugins installed once
    row_counts,
)

pytestmark = [pytest.mark.meltano, pytest.mark.postgres]

MARKER = (
    "<!-- run-by: tests/test_readme_meltano.py::"
    "test_the_readme_meltano_walkthrough_runs_as_written -->"
)


def walkthrough() -> str:
    readme = (ROOT / "README.md").read_text()
    after = readme.split(MARKER, 1)[1]
    match = re.match(r"\s*```sh\n(.*?)\n```", after, re.DOTALL)
    assert match, "the walkthrough block follows its marker"
    return match.group(1)


def git(checkout: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(checkout), *args], capture_output=True, text=True, check=True
    ).stdout


def fresh_checkout(tmp_path: Path) -> Path:
    """This work tree's files (tracked, and new ones git does not ignore), committed in a
    repository of their own."""
    checkout = tmp_path / "checkout"
    files = git(ROOT, "ls-files", "--cached", "--others", "--exclude-standard", "-z")
    for name in filter(None, files.split("\0")):
        source = ROOT / name
        if source.is_file():
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, checkout / name)
    git(checkout, "init", "-q")
    git(checkout, "add", "-A")
    git(checkout, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "checkout")
    return checkout


def linked_plugins(tmp_path: Path) -> Path:
    """A Meltano system directory of the checkout's own whose plugins are this repository's."""
    sys_dir = tmp_path / "meltano-sys"
    sys_dir.mkdir()
    for kind in ("extractors", "loaders"):
        (sys_dir / kind).symlink_to(ROOT / ".meltano" / kind, target_is_directory=True)
    return sys_dir


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
    assert "meltano config set --store=dotenv tap-ticketlogs " in block
    readme = (ROOT / "README.md").read_text()
    assert "meltano config tap-ticketlogs" not in readme  # the form Meltano 4 refuses

    schema = f"readme_{uuid.uuid4().hex[:10]}"
    port = free_port()
    script = block.replace("8765", str(port)).replace("ticketlogs_hashed", f"{schema}_hashed")
    project = fresh_checkout(tmp_path)
    walkthrough_script = tmp_path / "walkthrough.sh"
    walkthrough_script.write_text(
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
        MELTANO_SYS_DIR_ROOT=str(linked_plugins(tmp_path)),
        MELTANO_SEND_ANONYMOUS_USAGE_STATS="false",
        TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA=schema,
    )
    # The walkthrough's sandbox, replayed here for its ground truth (same seed, same size).
    with Sandbox(records=200) as replica:
        january = replica.stats()["records"]
        replica.append(30)
        appended = replica.stats()["records"]

    def run_walkthrough() -> tuple[subprocess.CompletedProcess[str], str]:
        result = subprocess.run(
            ["bash", str(walkthrough_script)],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        return result, result.stdout + result.stderr

    with psycopg.connect(postgres_dsn, autocommit=True) as db:
        try:
            for attempt in ("first", "rerun"):
                result, output = run_walkthrough()
                assert result.returncode == 0, f"{attempt}: {output[-4000:]}"
                for source in ("tixngo", "akana", "socialboards", "huawei"):
                    assert f"tap-ticketlogs: test: {source}: ok" in output, attempt
                assert "Error" not in result.stderr.replace("error_code", ""), attempt
                # First run: January; second: only the appended entries; third: everything.
                for stream in LOG_STREAMS:
                    assert summaries(output, stream) == [
                        january[stream],
                        appended[stream] - january[stream],
                        appended[stream],
                    ], (attempt, stream)
                assert row_counts(db, schema) == appended, attempt
                assert git(project, "status", "--porcelain") == "", attempt
                assert git(project, "diff", "HEAD", "--stat") == "", attempt

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
