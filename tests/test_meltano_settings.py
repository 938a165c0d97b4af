"""Settings as users give them to Meltano: environment variables, a `.env` file and
`meltano config set`, with no Meltano environment block; and wrong values through Meltano.

Reuses test_meltano_e2e's project (this repository's meltano.yml) and its one install.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tap_ticketlogs.sandbox.server import Sandbox
from tap_ticketlogs.sources.huawei.sandbox import HuaweiAPI
from tap_ticketlogs.sources.socialboards.sandbox import SocialboardsAPI
from tap_ticketlogs.tap import SOURCE_SECTIONS, TapTicketLogs
from tests.helpers import vendor_api
from tests.test_meltano_e2e import (
    MELTANO,
    ROOT,
    STREAMS,
    MeltanoProject,
    installed,  # noqa: F401 - the shared module fixture: plugins installed once
    row_counts,
)

pytestmark = [pytest.mark.meltano]

PREFIX = "TAP_TICKETLOGS_"


def env_var(setting: str) -> str:
    """Meltano's variable for a (dotted) setting: ``tixngo.api_key`` -> ``..._TIXNGO_API_KEY``."""
    return PREFIX + setting.replace(".", "_").upper()


def as_env_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def every_setting(sandbox: Sandbox) -> dict[str, Any]:
    """The sandbox's config with every non-string setting given a value (the values keep
    the extraction whole: no filter drops a record, every ticket and case is named)."""
    config = sandbox.tap_config()
    tickets = sorted(vendor_api(sandbox, "socialboards", SocialboardsAPI).tickets)
    cases = [case.case_id for case in vendor_api(sandbox, "huawei", HuaweiAPI).cases]
    settings: dict[str, Any] = {
        "start_date": config["start_date"],  # date_iso8601
        "end_date": config["end_date"],
        "lag_minutes": 0,  # whole numbers (kind string)
        "max_concurrency": 4,
        "request_timeout": 30,
        "max_retries": 3,
        "shard_count": 1,
        "shard_index": 0,
        "state_interval_seconds": 0,
        "flattening_enabled": False,  # boolean
        "flattening_max_depth": 1,  # the SDK's own settings (kind string too)
        "flattening_max_key_length": 255,
        # An object, as JSON text: a property added to every case, with a value from
        # stream_map_config, so the load shows both were read.
        "stream_maps": {"huawei_cases": {"mapped_from_env": "config['label']"}},
        "stream_map_config": {"label": "from-the-environment"},
    }
    extra = {
        "tixngo": {
            "auth_scheme": "bearer",  # options
            "window_hours": 48,
            "page_size": 500,
            "action_names": [],  # arrays
            "from_statuses": [],
            "to_statuses": [],
            "discovery_sampling": False,  # boolean, off: no sampling request (see below)
            "requests_per_second": 1000,
        },
        "akana": {
            "environment": "Production",
            "window_hours": 12,
            "page_size": 100,
            "discovery_sampling": False,
            "requests_per_second": 1000,
        },
        "socialboards": {
            "ticket_ids": tickets,
            "action_types": [],
            "page_size": 20,
            "activity_margin_hours": 24,
            "discovery_sampling": False,
            "requests_per_second": 1000,
        },
        "huawei": {
            "case_ids": cases,
            "language": "en-us",
            "page_size": 50,
            "closed_case_lookback_days": 30,
            "discovery_sampling": False,
            "requests_per_second": 1000,
        },
    }
    for section in ("tixngo", "akana", "socialboards", "huawei"):
        for name, value in {**config[section], **extra[section]}.items():
            settings[f"{section}.{name}"] = value
    return settings


# Settings of the SDK that change what a run is, each tested where it is the subject:
# BATCH files instead of RECORD lines (test_batch), fake data for stream maps.
NOT_IN_EVERY_SETTING = {"batch_config", "faker_config"}


def typed_setting_names() -> set[str]:
    """Every setting whose value is not free text: numbers, booleans, lists, objects,
    choices and date-times, top level and in the vendor sections."""
    names: set[str] = set()

    def collect(properties: Mapping[str, Any], prefix: str) -> None:
        for name, prop in properties.items():
            if name in SOURCE_SECTIONS:
                collect(prop["properties"], f"{name}.")
                continue
            types = prop.get("type")
            types = {types} if isinstance(types, str) else set(types or ())
            if types - {"string", "null"} or "enum" in prop or prop.get("format") == "date-time":
                names.add(prefix + name)

    collect(TapTicketLogs.full_settings_schema()["properties"], "")
    return names


def test_every_setting_covers_every_typed_setting() -> None:
    # A setting added to the tap without a place here would never be tried from the
    # environment: the Decimal crash of issue 11 came from such a gap.
    with Sandbox(seed=23, records=20) as sandbox:
        covered = set(every_setting(sandbox))
    missing = typed_setting_names() - covered - NOT_IN_EVERY_SETTING
    assert not missing, f"give these a value in every_setting(): {sorted(missing)}"


@pytest.fixture
def env_only(
    installed: None,  # noqa: F811 - the imported fixture
    postgres_dsn: str,
    tmp_path: Path,
) -> Iterator[tuple[MeltanoProject, psycopg.Connection[Any]]]:
    """The e2e project without its `sandbox` environment: settings come from elsewhere."""
    schema = f"settings_{os.urandom(5).hex()}"
    with (
        Sandbox(seed=23, records=120) as sandbox,
        psycopg.connect(postgres_dsn, autocommit=True) as connection,
    ):
        project = MeltanoProject(sandbox, tmp_path, schema)
        project.env.pop("MELTANO_ENVIRONMENT")
        project.env = {k: v for k, v in project.env.items() if not k.startswith(PREFIX)}
        try:
            yield project, connection
        finally:
            connection.execute(f'drop schema if exists "{schema}" cascade')


@pytest.mark.postgres
def test_every_setting_from_the_environment_loads_every_row(
    env_only: tuple[MeltanoProject, psycopg.Connection[Any]],
) -> None:
    meltano, db = env_only
    settings = every_setting(meltano.sandbox)
    env = {env_var(name): as_env_value(value) for name, value in settings.items()}

    # What Meltano hands the tap: whole numbers, lists, objects and choices as the text
    # given (kind string), booleans typed; the tap reads the text.
    dumped = json.loads(meltano.meltano("invoke", "--dump=config", "tap-ticketlogs", **env).stdout)
    assert dumped["lag_minutes"] == "0"
    assert dumped["tixngo"]["window_hours"] == "48"
    assert dumped["socialboards"]["ticket_ids"] == json.dumps(settings["socialboards.ticket_ids"])
    assert dumped["tixngo"]["auth_scheme"] == "bearer"
    assert dumped["flattening_enabled"] is False
    assert dumped["flattening_max_depth"] == "1"
    assert json.loads(dumped["stream_maps"]) == settings["stream_maps"]

    meltano.meltano("run", "tap-ticketlogs", "target-postgres", **env)
    truth = meltano.sandbox.stats()["records"]
    assert row_counts(db, meltano.schema) == {stream: truth[stream] for stream in STREAMS}
    # The settings were used, not their defaults: 48-hour TIXNGO windows over 30 days for
    # 3 apps (each under one 500-record page) are 45 requests; 24-hour ones would be 90, and
    # the discovery sampling left on by default would add one.
    requests = meltano.sandbox.stats()["requests"]
    assert sum(requests["GET /organizer/report/ticket-status-logs"].values()) == 45
    mapped = db.execute(
        f'select distinct mapped_from_env from "{meltano.schema}".huawei_cases'
    ).fetchall()
    assert mapped == [("from-the-environment",)]


def copied_project(tmp_path: Path) -> Path:
    """meltano.yml in a directory of its own, sharing this repository's installed plugins,
    so `meltano config set` can write to it."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "meltano.yml", project / "meltano.yml")
    (project / ".meltano").symlink_to(ROOT / ".meltano")
    return project


def run_meltano(
    project: Path, env: Mapping[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MELTANO, *args],
        cwd=project,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_every_setting_from_dotenv_reaches_the_tap_typed(
    installed: None,  # noqa: F811 - the imported fixture
    tmp_path: Path,
) -> None:
    # `meltano config set` and a real run from meltano.yml and .env: test_readme_meltano.
    with Sandbox(seed=24, records=20) as sandbox:
        project = copied_project(tmp_path)
        env = {
            key: value
            for key, value in MeltanoProject(sandbox, tmp_path, "unused").env.items()
            if key != "MELTANO_ENVIRONMENT" and not key.startswith(PREFIX)
        }
        settings = every_setting(sandbox)
        lines = [f"{env_var(name)}='{as_env_value(value)}'" for name, value in settings.items()]
        (project / ".env").write_text("\n".join(lines) + "\n")

        result = run_meltano(project, env, "invoke", "--dump=config", "tap-ticketlogs")
        assert result.returncode == 0, result.stderr[-2000:]
        dumped = json.loads(result.stdout)
        assert dumped["lag_minutes"] == "0"
        assert dumped["akana"]["page_size"] == "100"
        assert dumped["tixngo"]["mobile_app_ids"] == json.dumps(settings["tixngo.mobile_app_ids"])
        assert dumped["tixngo"]["action_names"] == "[]"
        assert dumped["huawei"]["case_ids"] == json.dumps(settings["huawei.case_ids"])
        assert dumped["flattening_enabled"] is False
        assert dumped["start_date"] == settings["start_date"]

        # The tap accepts all of it: discovery validates the whole config first.
        result = run_meltano(project, env, "invoke", "tap-ticketlogs", "--discover")
        assert result.returncode == 0, result.stderr[-2000:]
        catalog = json.loads(result.stdout)
        assert sorted(entry["tap_stream_id"] for entry in catalog["streams"]) == sorted(STREAMS)


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("LAG_MINUTES", "abc", "setting 'lag_minutes' must be a whole number, not 'abc'"),
        ("TIXNGO_PAGE_SIZE", "20000", "setting 'tixngo.page_size' is invalid: 20000 is greater"),
        ("TIXNGO_AUTH_SCHEME", "digest", "setting 'tixngo.auth_scheme' must be one of 'bearer'"),
        # The SDK's own settings too (Meltano's traceback when their kinds were integer/object).
        ("FLATTENING_MAX_DEPTH", "abc", "setting 'flattening_max_depth' must be a whole number"),
        ("STREAM_MAPS", "{bad", "setting 'stream_maps' is invalid: '{bad' is not of type 'object'"),
    ],
)
def test_a_wrong_value_through_meltano_is_the_taps_one_line(
    installed: None,  # noqa: F811 - the imported fixture
    tmp_path: Path,
    variable: str,
    value: str,
    expected: str,
) -> None:
    with Sandbox(seed=25, records=20) as sandbox:
        env = {
            key: val
            for key, val in MeltanoProject(sandbox, tmp_path, "unused").env.items()
            if key != "MELTANO_ENVIRONMENT" and not key.startswith(PREFIX)
        }
        settings = every_setting(sandbox)
        env.update({env_var(name): as_env_value(val) for name, val in settings.items()})
        env[PREFIX + variable] = value
        result = run_meltano(ROOT, env, "run", "tap-ticketlogs", "target-jsonl")
    assert result.returncode != 0
    assert f"tap-ticketlogs: error: {expected}" in result.stderr
    assert "Traceback" not in result.stderr
