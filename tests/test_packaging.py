"""Generated documentation and plugin definitions stay in step with the tap."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_the_settings_doc_table_and_meltano_settings_are_current() -> None:
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


def test_every_loader_shipped_is_tested() -> None:
    # A loader in meltano.yml is run by the end-to-end tests; one the benchmark only
    # measures (not faithful, README) is added to a copy of meltano.yml by the benchmark,
    # so that `meltano install` never installs it for users.
    from tests.test_meltano_e2e import TESTED_LOADERS  # noqa: PLC0415 - psycopg on import

    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    loaders = {plugin["name"] for plugin in project["plugins"]["loaders"]}
    assert loaders == set(TESTED_LOADERS)


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _module_distributions() -> dict[str, set[str]]:
    """Top-level module -> distributions installing it, from each distribution's RECORD
    (Python 3.10's packages_distributions reads only top_level.txt, which wheels omit)."""
    found: dict[str, set[str]] = {}
    for dist in importlib.metadata.distributions():
        for file in dist.files or ():
            top = file.parts[0]
            if top.endswith((".dist-info", ".data", ".pth")) or top in ("..", "__pycache__"):
                continue
            found.setdefault(top.removesuffix(".py"), set()).add(dist.metadata["Name"])
    return found


def test_every_imported_package_is_declared() -> None:
    # The installed metadata is pyproject.toml's [project] dependencies (scripts/test.sh
    # installs the project before the tests run); extras such as [test] do not count.
    declared = {
        _normalized(re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0])
        for requirement in importlib.metadata.requires("tap-ticketlogs") or []
        if "extra ==" not in requirement
    }
    imported: set[str] = set()
    for path in (ROOT / "tap_ticketlogs").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"tap_ticketlogs", "__future__"}
    distributions = _module_distributions()
    undeclared = {
        module: distributions.get(module)
        for module in third_party
        if not {_normalized(d) for d in distributions.get(module, set())} & declared
    }
    assert not undeclared, f"imported but not in [project] dependencies: {undeclared}"


def test_ci_runs_every_python_version_the_readme_promises() -> None:
    promise = re.search(r"Python (3\.\d+)\u2013(3\.\d+)", (ROOT / "README.md").read_text())
    assert promise is not None
    first, last = (int(version.split(".")[1]) for version in promise.groups())
    promised = [f"3.{minor}" for minor in range(first, last + 1)]
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    assert workflow["jobs"]["test"]["strategy"]["matrix"]["python-version"] == promised
    requires = importlib.metadata.metadata("tap-ticketlogs")["Requires-Python"]
    assert requires.replace(" ", "") in (f">=3.{first},<3.{last + 1}", f"<3.{last + 1},>=3.{first}")
