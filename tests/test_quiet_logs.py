"""Quiet by default: no METRIC lines unless asked, and a failure ends with the one line."""

from __future__ import annotations

from pathlib import Path

from tap_ticketlogs.sandbox.server import Sandbox
from tests.helpers import run_cli, source_config


def test_a_run_logs_summaries_not_metrics(tmp_path: Path) -> None:
    with Sandbox(seed=5, records=100, vendors=("tixngo",)) as sandbox:
        config = source_config(sandbox, "tixngo")
        quiet = run_cli(config=config, tmp_path=tmp_path)
        verbose = run_cli(
            config=config, tmp_path=tmp_path, env={"TAP_TICKETLOGS_LOGLEVEL": "DEBUG"}
        )
    assert quiet.returncode == 0, quiet.stderr
    assert "METRIC" not in quiet.stderr
    assert "Pagination stopped" not in quiet.stderr
    assert "summary tixngo_ticket_status_logs: 100 records" in quiet.stderr
    assert len(quiet.stderr.splitlines()) < 20
    assert verbose.returncode == 0, verbose.stderr
    assert "METRIC" in verbose.stderr  # still there for whoever asks


def test_a_failed_run_ends_with_the_one_line_error(tmp_path: Path) -> None:
    with Sandbox(seed=5, records=100, vendors=("tixngo",)) as sandbox:
        config = source_config(sandbox, "tixngo", api_key="wrong-key-123")
        result = run_cli(config=config, tmp_path=tmp_path)
    assert result.returncode == 1
    last = result.stderr.splitlines()[-1]
    assert last.startswith("tap-ticketlogs: error: TIXNGO tixngo_ticket_status_logs")
    assert "HTTP 401" in last
    assert "An unhandled error occurred" not in result.stderr  # the SDK's, redundant here
    assert "Traceback" not in result.stderr


def test_about_in_text_lists_every_section_setting(tmp_path: Path) -> None:
    result = run_cli("--about", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    for setting, env_var in (
        ("tixngo.api_key", "TAP_TICKETLOGS_TIXNGO_API_KEY"),
        ("akana.window_hours", "TAP_TICKETLOGS_AKANA_WINDOW_HOURS"),
        ("socialboards.activity_margin_hours", "TAP_TICKETLOGS_SOCIALBOARDS_ACTIVITY_MARGIN_HOURS"),
        ("huawei.page_size", "TAP_TICKETLOGS_HUAWEI_PAGE_SIZE"),
    ):
        entry = f"  - Name: {setting}\n"
        assert entry in result.stdout
        after = result.stdout.split(entry, 1)[1].splitlines()
        assert after[1] == f"    Environment Variable: {env_var}"
    assert "  - Name: stream_maps\n" in result.stdout


def test_child_partitions_log_no_line_each(tmp_path: Path) -> None:
    # 50 tickets, 50 cases: the SDK's two lines per child partition (200 here, 200 000 for
    # 100 000 tickets) are kept for DEBUG; the summary line per stream says what happened.
    with Sandbox(seed=5, records=400, vendors=("socialboards", "huawei")) as sandbox:
        config = sandbox.tap_config()
        quiet = run_cli(config=config, tmp_path=tmp_path)
        verbose = run_cli(
            config=config, tmp_path=tmp_path, env={"TAP_TICKETLOGS_LOGLEVEL": "DEBUG"}
        )
    assert quiet.returncode == 0, quiet.stderr
    assert "summary socialboards_ticket_logs: 400 records" in quiet.stderr
    assert "summary huawei_case_operate_logs: 400 records" in quiet.stderr
    for stream in ("socialboards_ticket_logs", "huawei_case_operate_logs"):
        assert f"Beginning sync of '{stream}'" not in quiet.stderr
        assert f"Starting incremental sync of '{stream}'" not in quiet.stderr
    assert "Skipping parse of env var settings" not in quiet.stderr
    assert len(quiet.stderr.splitlines()) < 30
    # The SDK's wording, pinned: if it changes, the filter no longer matches and this fails.
    assert verbose.returncode == 0, verbose.stderr
    beginning = "Beginning sync of 'socialboards_ticket_logs' in incremental mode with context keys"
    assert verbose.stderr.count(beginning) == 50
    assert verbose.stderr.count("Starting incremental sync of 'huawei_case_operate_logs'") == 10
