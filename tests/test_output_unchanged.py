"""What every stream writes on the sandbox (RECORD, STATE, SCHEMA) stays as it was.

The digests in ``tests/data/output_digests.json`` were taken from the tap's output on the
sandbox (seed 7, 600 records a stream) before the package moved into rooms; a refactoring
must leave them alone. A change of output that is meant (a new field, another bookmark)
regenerates them, and its commit says why:
``.venv/bin/python -m tests.test_output_unchanged --update``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from tap_ticketlogs.sandbox.server import Sandbox
from tests.helpers import run_tap

DIGESTS = Path(__file__).with_name("data") / "output_digests.json"
RUNS = ("full", "incremental", "paged")
#: The sources pinned here (a vendor added later leaves the digests alone), with pages of a
#: few records, so every paginator turns many pages per partition.
SMALL_PAGES = {"tixngo": 7, "akana": 9, "socialboards": 4, "huawei": 6}


#: Values of the clock, not of the tap's logic: when a record was read, when a sync started.
CLOCK_KEYS = frozenset({"time_extracted", "replication_key_signpost"})


def _without_clock(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_clock(v) for k, v in value.items() if k not in CLOCK_KEYS}
    if isinstance(value, list):
        return [_without_clock(item) for item in value]
    return value


def _canonical(value: Any) -> bytes:
    return json.dumps(_without_clock(value), sort_keys=True, separators=(",", ":")).encode()


def output_digests() -> dict[str, dict[str, Any]]:
    """Per run and stream: how many messages of each type, and a sha256 of them in order.

    Three runs: a full one; an incremental one from its final STATE after the sandbox added
    newer records; and one with small pages, a STATE after every unit of work and three
    workers. The clock's values (``CLOCK_KEYS``) are left out.
    """
    digests: dict[str, dict[str, Any]] = {}
    with Sandbox(seed=7, records=600, vendors=tuple(SMALL_PAGES)) as sandbox:
        config = sandbox.tap_config()
        first = run_tap(config)
        small_pages = json.loads(json.dumps(config))
        small_pages.update(state_interval_seconds=0, max_concurrency=3)
        for section, page_size in SMALL_PAGES.items():
            small_pages[section]["page_size"] = page_size
        paged = run_tap(small_pages)
        sandbox.append(40)
        config["end_date"] = sandbox.tap_config()["end_date"]
        second = run_tap(config, state=first.final_state)
    for run_name, output in (("full", first), ("incremental", second), ("paged", paged)):
        hashes: dict[str, Any] = defaultdict(hashlib.sha256)
        counts: dict[str, int] = defaultdict(int)
        for message in output.messages:
            kind = message["type"]
            label = f"{kind} {message.get('stream', '*')}"
            hashes[label].update(_canonical(message) + b"\n")
            counts[label] += 1
        digests[run_name] = {
            label: {"count": counts[label], "sha256": hashes[label].hexdigest()}
            for label in sorted(hashes)
        }
    return digests


def test_every_stream_writes_what_it_wrote_before() -> None:
    expected = json.loads(DIGESTS.read_text())
    actual = output_digests()
    changed = {
        f"{run} {label}": (expected[run].get(label), actual[run].get(label))
        for run in RUNS
        for label in sorted(set(expected[run]) | set(actual[run]))
        if expected[run].get(label) != actual[run].get(label)
    }
    assert changed == {}


if __name__ == "__main__":
    if sys.argv[1:] == ["--update"]:
        DIGESTS.write_text(json.dumps(output_digests(), indent=2) + "\n")
    else:
        print(json.dumps(output_digests(), indent=2))  # noqa: T201
