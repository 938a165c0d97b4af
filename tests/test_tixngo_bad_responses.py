"""Malformed or unexpected TIXNGO answers, served by a local HTTP server: one clear line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from tests.helpers import error_lines, run_cli

PATH = "/organizer/report/ticket-status-logs"


def config_for(server: HTTPServer) -> dict[str, Any]:
    return {
        "start_date": "2026-01-01T00:00:00Z",
        "end_date": "2026-01-02T00:00:00Z",
        "max_retries": 1,
        "tixngo": {
            "base_url": server.url_for("").rstrip("/"),
            "api_key": "bad-response-key-1",
            "mobile_app_ids": ["app-1"],
        },
    }


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        ('{"result": {"ticketId": "T-1"}}', "application/json", "'result' is a JSON dict"),
        ('["not", "an", "object"]', "application/json", "body is a JSON list, not an object"),
        ('{"result": [{"ticketId": "T-', "application/json", "body is not JSON (application/json)"),
        ("<html>maintenance</html>", "text/html", "body is not JSON (text/html)"),
    ],
)
def test_unexpected_bodies_fail_in_one_line(
    httpserver: HTTPServer, tmp_path: Path, body: str, content_type: str, expected: str
) -> None:
    httpserver.expect_request(PATH).respond_with_data(body, content_type=content_type)
    result = run_cli(config=config_for(httpserver), tmp_path=tmp_path)
    assert result.returncode == 1
    (line,) = error_lines(result.stderr)
    assert expected in line
    assert "TIXNGO tixngo_ticket_status_logs [mobile_app_id=app-1" in line
    assert "bad-response-key-1" not in result.stderr
    assert '"type":"RECORD"' not in result.stdout
    assert '"replication_key_value"' not in result.stdout  # no bookmark past a failed window


def test_a_bad_request_answer_is_quoted_briefly(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request(PATH).respond_with_json(
        {"message": "from must be before to", "trace": "x" * 5000}, status=400
    )
    result = run_cli(config=config_for(httpserver), tmp_path=tmp_path)
    assert result.returncode == 1
    (line,) = error_lines(result.stderr)
    assert "HTTP 400" in line
    assert "from must be before to" in line
    assert len(line) < 600  # an excerpt, not the whole body
