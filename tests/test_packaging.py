"""Generated documentation and plugin definitions stay in step with the tap."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_readme_settings_table_and_meltano_settings_are_current() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "sync_docs.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_meltano_marks_every_secret_sensitive() -> None:
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    (extractor,) = project["plugins"]["extractors"]
    sensitive = {s["name"] for s in extractor["settings"] if s.get("sensitive")}
    assert {
        "tixngo.api_key",
        "akana.auth_token",
        "akana.csrf_token",
        "akana.password",
        "socialboards.refresh_token",
        "socialboards.access_token",
        "huawei.auth_token",
        "huawei.password",
    } <= sensitive
    for setting in extractor["settings"]:
        assert setting["description"], setting["name"]
        assert setting["kind"], setting["name"]


def test_every_plugin_installs_from_pypi_without_the_hub() -> None:
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    for kind in ("extractors", "loaders"):
        for plugin in project["plugins"][kind]:
            assert plugin.get("namespace"), plugin["name"]
            assert plugin.get("pip_url"), plugin["name"]
            assert "variant" not in plugin, plugin["name"]
