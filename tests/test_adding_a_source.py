"""docs/adding-a-source.md works: a fifth vendor built from the guide's own code blocks.

The package is copied into a temporary directory, the guide's files are written there and its
registry change applied to the copy's ``sources/registry.py``; a subprocess with
``PYTHONPATH`` at the copy (which so shadows the installed package) then starts the toy
sandbox, syncs the toy stream (whole, then incrementally, then as two shards), tries a wrong
key through the tap's command and reads the settings the copy generates; the guide's own tests
run beside it. The tests check what that said, and count what changed outside
``sources/toy/``.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "adding-a-source.md"
BIN = Path(sys.executable).parent
TOY_FOLDER = "tap_ticketlogs/sources/toy/"
REGISTRY = "tap_ticketlogs/sources/registry.py"
STREAM = "toy_log_entries"
# The toy API's facts as the guide documents them (its step 0).
TOY_KEY_HEADER, TOY_PAGE_PARAM, TOY_PAGE_MAX = "X-Api-Key", "per_page", 100
RECORDS, APPENDED, PAGE_SIZE = 400, 25, 7
WRONG_KEY = "wrong-key-0123456789"
#: The project's tests that read the registry, run against the copy too: a fifth vendor must
#: pass them unchanged (its streams' chains and imports, what --test reports).
SHARED_TESTS = ("tests/test_layout.py", "tests/test_connection_check.py")

MARKER = re.compile(r"^(?:File: (?P<path>\S+)|(?P<registry>Registry change:))\s*$")


def guide_blocks(text: str) -> tuple[dict[str, str], list[str]]:
    """The guide's files (path: content) and its registry change (the diff block's lines)."""
    lines = text.splitlines()
    files: dict[str, str] = {}
    changes: list[list[str]] = []
    for index, line in enumerate(lines):
        found = MARKER.match(line)
        if found is None:
            continue
        fence = lines[index + 1] if index + 1 < len(lines) else ""
        assert fence.startswith("```"), f"guide line {index + 2}: no fenced block after {line!r}"
        end = next(i for i in range(index + 2, len(lines)) if lines[i].startswith("```"))
        body = lines[index + 2 : end]
        if found["path"]:
            assert found["path"] not in files, f"the guide gives {found['path']} twice"
            files[found["path"]] = "\n".join(body) + "\n"
        else:
            assert fence == "```diff", "the registry change is a diff block"
            changes.append(body)
    assert len(changes) == 1, "the guide gives one registry change"
    return files, changes[0]


def apply_change(text: str, change: list[str]) -> str:
    """``text`` with a diff block applied: ``-`` lines go, ``+`` lines come, the rest (a
    space, or an empty line) is context that must be found exactly once."""
    old: list[str] = []
    new: list[str] = []
    for line in change:
        sign, rest = (line[0], line[1:]) if line else (" ", "")
        assert sign in " -+", f"not a diff line: {line!r}"
        if sign != "+":
            old.append(rest)
        if sign != "-":
            new.append(rest)
    if not old:  # nothing to locate it by: appended at the end
        return text + "".join(f"{line}\n" for line in new)
    before, after = "".join(f"{line}\n" for line in old), "".join(f"{line}\n" for line in new)
    assert text.count(before) == 1, f"the registry change does not apply to {REGISTRY}"
    return text.replace(before, after)


# Run with PYTHONPATH at the copy: argv[1] is where to write the JSON result.
DRIVER = """
import io, json, subprocess, sys
from contextlib import redirect_stdout
from pathlib import Path

import requests

import tap_ticketlogs
from tap_ticketlogs.errors import ConfigError
from tap_ticketlogs.sandbox.server import Sandbox
from tap_ticketlogs.tap import TapTicketLogs

out_path, scripts, params = Path(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
STREAM = params["stream"]


def sync(config, state=None):
    tap = TapTicketLogs(config=config, state=state)
    out = io.StringIO()
    with redirect_stdout(out):  # as tests/helpers.run_tap does
        tap.sync_all()
    messages = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    return {
        "ids": [m["record"]["id"] for m in messages if m["type"] == "RECORD"],
        "record_streams": sorted({m["stream"] for m in messages if m["type"] == "RECORD"}),
        "state": [m["value"] for m in messages if m["type"] == "STATE"][-1],
        "streams": sorted(tap.streams),
    }


def with_toy(config, **section):
    return {**config, "toy": {**config["toy"], **section}}


result = {"package": tap_ticketlogs.__file__}
with Sandbox(seed=11, records=params["records"], vendors=("toy",), keep_served=True) as box:
    api = box.vendors["toy"]
    config = box.tap_config()
    result["config"] = config
    result["first"] = sync(with_toy(config, page_size=params["page_size"]))
    result["first"]["truth"] = api.record_counts()[STREAM]
    result["first"]["served"] = [row["id"] for row in box.served()[STREAM]]
    requests_first = box.stats()["requests"]
    result["shards"] = [
        sync(with_toy({**config, "shard_count": 2, "shard_index": index}))["ids"]
        for index in range(2)
    ]
    box.append(params["appended"])
    later = with_toy(box.tap_config(), page_size=params["page_size"])
    result["second"] = sync(later, state=result["first"]["state"])
    result["second"]["truth"] = api.record_counts()[STREAM]
    result["requests"] = {"first": requests_first, "both": box.stats()["requests"]}

    # Strict like the vendor: straight to the API, then through the tap's command.
    (route,) = api.routes()
    url = box.base_url + route.pattern
    window = {"since": config["start_date"], "until": config["end_date"]}
    key = {params["key_header"]: config["toy"]["api_key"]}
    over = {**window, params["page_param"]: params["page_max"] + 1}
    result["statuses"] = {
        "right key": requests.get(url, params=window, headers=key, timeout=10).status_code,
        "wrong key": requests.get(
            url, params=window, headers={params["key_header"]: "nope"}, timeout=10
        ).status_code,
        "no key": requests.get(url, params=window, timeout=10).status_code,
        "page over the maximum": requests.get(
            url, params=over, headers=key, timeout=10
        ).status_code,
    }
    wrong = out_path.with_name("wrong-key.json")
    wrong.write_text(json.dumps(with_toy(config, api_key=params["wrong_key"])))
    cli = subprocess.run(
        [sys.executable, "-c", "from tap_ticketlogs.cli import main; main()"]
        + ["--config", str(wrong)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    result["wrong_key"] = {"returncode": cli.returncode, "stderr": cli.stderr, "stdout": cli.stdout}
    try:
        TapTicketLogs(config=with_toy(config, api_key="   "))
    except ConfigError as exc:
        result["blank_key"] = str(exc)

# What --about --format=json says, and what scripts/sync_docs.py would write.
about = io.StringIO()
with redirect_stdout(about):
    TapTicketLogs.print_about("json")
result["about_toy"] = json.loads(about.getvalue())["settings"]["properties"].get("toy")
sys.path.append(scripts)
import sync_docs

meltano_yml = sync_docs.synced_meltano_yml(sync_docs.MELTANO_YML.read_text())
result["meltano_names"] = [
    line.split("name: ", 1)[1] for line in meltano_yml.splitlines() if "- name: toy." in line
]
settings_doc = sync_docs.synced_settings_doc(sync_docs.SETTINGS_DOC.read_text())
result["settings_doc_rows"] = [
    line for line in settings_doc.splitlines() if line.startswith("| toy.")
]
out_path.write_text(json.dumps(result))
"""


def package_files(package: Path) -> dict[str, bytes]:
    return {
        path.relative_to(package.parent).as_posix(): path.read_bytes()
        for path in sorted(package.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


class Build:
    """The copy with the toy vendor, and what running it said."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = {**os.environ, "PYTHONPATH": str(root)}
        text = GUIDE.read_text(encoding="utf-8")
        self.files, self.change = guide_blocks(text)
        self.python_fences = text.count("\n```python\n")
        assert not (ROOT / TOY_FOLDER).exists(), "the repository has a toy vendor of its own"
        # One snapshot of the package, which the copy starts from: the tree may change while
        # the tests run, and the comparison is with what the copy was made from.
        ignore = shutil.ignore_patterns("__pycache__")
        self.original = root / "original" / "tap_ticketlogs"
        shutil.copytree(ROOT / "tap_ticketlogs", self.original, ignore=ignore)
        shutil.copytree(self.original, root / "tap_ticketlogs")
        # What the guide's tests import and how the project lints (read, not changed).
        (root / "tests").mkdir()
        for name in ("__init__.py", "helpers.py", "conftest.py"):
            shutil.copy(ROOT / "tests" / name, root / "tests" / name)
        for path in SHARED_TESTS:
            shutil.copy(ROOT / path, root / path)
        shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
        for path, content in self.files.items():
            target = root / path
            assert not target.exists(), f"the guide's {path} would overwrite a file"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
        registry = root / REGISTRY
        registry.write_text(apply_change(registry.read_text(), self.change))
        self.result, self.guide_tests = self._run()

    def _run(self) -> tuple[dict[str, Any], subprocess.CompletedProcess[str]]:
        """The driver and the guide's own tests, side by side."""
        out = self.root / "result.json"
        params = {
            "stream": STREAM,
            "records": RECORDS,
            "appended": APPENDED,
            "page_size": PAGE_SIZE,
            "key_header": TOY_KEY_HEADER,
            "page_param": TOY_PAGE_PARAM,
            "page_max": TOY_PAGE_MAX,
            "wrong_key": WRONG_KEY,
        }
        (self.root / "driver.py").write_text(DRIVER)
        driver_args = ["driver.py", str(out), str(ROOT / "scripts"), json.dumps(params)]
        driver = self._start([sys.executable, *driver_args])
        tests = [str(path) for path in self.files if path.startswith("tests/")]
        tests += SHARED_TESTS
        pytest_args = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", *tests]
        guide_tests = self._start([sys.executable, *pytest_args])
        _, driver_err = driver.communicate(timeout=240)
        tests_out, tests_err = guide_tests.communicate(timeout=240)
        assert driver.returncode == 0, f"the driver failed:\n{driver_err[-3000:]}"
        completed = subprocess.CompletedProcess(
            guide_tests.args, guide_tests.returncode, tests_out, tests_err
        )
        return json.loads(out.read_text()), completed

    def _start(self, command: list[str]) -> subprocess.Popen[str]:
        return subprocess.Popen(
            command,
            cwd=self.root,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    return Build(tmp_path_factory.mktemp("fifth-source"))


def test_the_guide_gives_every_file_of_the_toy_vendor(build: Build) -> None:
    assert sorted(build.files) == [
        f"{TOY_FOLDER}__init__.py",
        f"{TOY_FOLDER}pagination.py",
        f"{TOY_FOLDER}sandbox.py",
        f"{TOY_FOLDER}settings.py",
        f"{TOY_FOLDER}streams.py",
        "tests/test_toy.py",
    ]
    # Every Python block of the guide is one of its files: none escapes this test.
    assert build.python_fences == len(build.files)


def test_the_copy_is_the_package_that_ran(build: Build) -> None:
    package = Path(build.result["package"]).resolve()
    assert package.is_relative_to(build.root.resolve())
    assert build.result["config"]["toy"]["api_key"]  # the section came from config_section


def test_a_sync_emits_every_entry_of_the_toy_api_once(build: Build) -> None:
    first = build.result["first"]
    assert first["streams"] == first["record_streams"] == [STREAM]
    assert first["truth"] == RECORDS
    assert len(first["ids"]) == first["truth"]
    assert len(set(first["ids"])) == len(first["ids"]), "an entry was emitted twice"
    assert set(first["ids"]) == set(first["served"])
    # Paged for real: more requests than the 30 daily windows.
    (counts,) = build.result["requests"]["first"].values()
    assert set(counts) == {"200"}
    assert counts["200"] > 30


def test_the_state_bookmarks_the_toy_stream_and_a_second_run_reads_only_new_entries(
    build: Build,
) -> None:
    first, second = build.result["first"], build.result["second"]
    bookmark = first["state"]["bookmarks"][STREAM]
    assert bookmark["replication_key"] == "logged_at"
    assert bookmark["replication_key_value"] == build.result["config"]["end_date"]
    assert second["truth"] == RECORDS + APPENDED
    assert len(second["ids"]) == APPENDED
    assert len(set(second["ids"])) == APPENDED
    assert not set(second["ids"]) & set(first["ids"])
    assert (
        second["state"]["bookmarks"][STREAM]["replication_key_value"]
        > bookmark["replication_key_value"]
    )


def test_two_shards_emit_each_toy_entry_once(build: Build) -> None:
    # A stream without partitions is one partition: one shard reads all of it, the other none.
    shards = build.result["shards"]
    emitted = sorted(len(ids) for ids in shards)
    assert emitted == [0, RECORDS], f"shards 0 and 1 of 2 emitted {emitted} toy entries"
    assert sorted(id_ for ids in shards for id_ in ids) == sorted(build.result["first"]["ids"])


def test_the_toy_settings_and_docs_are_generated_from_its_declaration(build: Build) -> None:
    toy = build.result["about_toy"]
    assert toy is not None, "--about has no toy section"
    assert toy["title"] == "Toy"
    settings = toy["properties"]
    assert set(settings) == {
        "base_url",
        "api_key",
        "window_hours",
        "page_size",
        "requests_per_second",
    }
    assert settings["api_key"].get("secret") or settings["api_key"].get("writeOnly")
    assert settings["page_size"]["maximum"] == TOY_PAGE_MAX
    assert sorted(build.result["meltano_names"]) == sorted(f"toy.{name}" for name in settings)
    assert len(build.result["settings_doc_rows"]) == len(settings)


def test_the_toy_sandbox_is_strict_and_the_tap_says_so_in_one_line(build: Build) -> None:
    assert build.result["statuses"] == {
        "right key": 200,
        "wrong key": 401,
        "no key": 401,
        "page over the maximum": 400,
    }
    wrong = build.result["wrong_key"]
    assert wrong["returncode"] == 1
    assert "Traceback" not in wrong["stderr"]
    assert WRONG_KEY not in wrong["stderr"] + wrong["stdout"]
    errors = [line for line in wrong["stderr"].splitlines() if line.startswith("tap-ticketlogs:")]
    assert len(errors) == 1, wrong["stderr"]
    assert wrong["stderr"].rstrip().endswith(errors[0])  # the last line, as cli.py promises
    assert errors[0].startswith(f"tap-ticketlogs: error: Toy {STREAM} [")
    assert "HTTP 401" in errors[0]
    assert "rejected the credentials; check the 'toy' section" in errors[0]
    assert "toy.api_key" in build.result["blank_key"]


def test_the_guide_tests_and_the_shared_ones_pass_against_the_copy(build: Build) -> None:
    run = build.guide_tests
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    shared = sum((ROOT / path).read_text().count("\ndef test_") for path in SHARED_TESTS)
    assert re.search(rf"\b{3 + shared} passed\b", run.stdout), run.stdout


def test_the_guide_code_passes_the_project_linters(build: Build) -> None:
    paths = [*build.files, REGISTRY]
    for command in (["check"], ["format", "--check"]):
        lint = subprocess.run(
            [str(BIN / "ruff"), *command, "--no-cache", *paths],
            cwd=build.root,
            capture_output=True,
            text=True,
            check=False,
        )
        assert lint.returncode == 0, lint.stdout + lint.stderr


def test_nothing_outside_the_toy_folder_changes_but_the_registry(build: Build) -> None:
    before = package_files(build.original)
    after = package_files(build.root / "tap_ticketlogs")
    added = sorted(path for path in after.keys() - before.keys())
    removed = sorted(before.keys() - after.keys())
    changed = sorted(path for path in before.keys() & after.keys() if before[path] != after[path])
    assert all(path.startswith(TOY_FOLDER) for path in added)
    assert removed == []
    assert changed == [REGISTRY]


def test_the_registry_takes_the_vendor_in_one_added_line(build: Build) -> None:
    before = (build.original.parent / REGISTRY).read_text()
    after = (build.root / REGISTRY).read_text()
    diff = list(
        difflib.unified_diff(
            before.splitlines(),
            after.splitlines(),
            n=0,
            lineterm="",
        )
    )
    plus = [line for line in diff if line.startswith("+") and not line.startswith("+++")]
    minus = [line for line in diff if line.startswith("-") and not line.startswith("---")]
    assert (len(plus), len(minus)) == (1, 0), (
        f"registry.py takes a vendor in {len(plus)} added and {len(minus)} removed lines, "
        "not one added line:\n" + "\n".join(diff[2:])
    )
