"""BATCH messages: gzip JSONL files in a local directory, read back completely."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from urllib.parse import urlparse

from tap_ticketlogs.sandbox.server import Sandbox
from tap_ticketlogs.sources.tixngo.sandbox import MOBILE_APPS, TixngoAPI
from tap_ticketlogs.streams.records import log_key
from tests.helpers import run_tap


def test_batch_files_hold_every_record_once(tmp_path: Path) -> None:
    with Sandbox(seed=9, records=400) as sandbox:
        config = sandbox.tap_config()
        config["batch_config"] = {
            "encoding": {"format": "jsonl", "compression": "gzip"},
            "storage": {"root": f"file://{tmp_path}", "prefix": "ticketlogs-"},
        }
        output = run_tap(config)
        truth = sandbox.stats()["records"]
        tixngo = sandbox.vendors["tixngo"]
        assert isinstance(tixngo, TixngoAPI)
        expected_tixngo = {
            log_key(entry, app) for app in MOBILE_APPS for _, entry in tixngo.entries[app]
        }

    batches = [m for m in output.messages if m["type"] == "BATCH"]
    assert not [m for m in output.messages if m["type"] == "RECORD"]
    rows: dict[str, list[dict[str, object]]] = {}
    for message in batches:
        assert message["encoding"] == {"format": "jsonl", "compression": "gzip"}
        for url in message["manifest"]:
            path = Path(urlparse(url).path)
            assert path.parent == tmp_path
            assert path.name.startswith("ticketlogs-")
            with gzip.open(path, "rt") as handle:
                rows.setdefault(message["stream"], []).extend(json.loads(line) for line in handle)
    assert {stream: len(records) for stream, records in rows.items()} == truth
    keys = [row["log_key"] for row in rows["tixngo_ticket_status_logs"]]
    assert len(keys) == len(set(keys))
    assert set(keys) == expected_tixngo
    # Bookmarks still advance in batch mode.
    assert output.final_state["bookmarks"]["tixngo_ticket_status_logs"]["partitions"]


def test_batch_mode_declares_new_fields_before_the_batch_that_holds_them(tmp_path: Path) -> None:
    with Sandbox(seed=9, records=90, field_style="extended", vendors=("tixngo",)) as sandbox:
        config = sandbox.tap_config()
        config["batch_config"] = {
            "encoding": {"format": "jsonl", "compression": "gzip"},
            "storage": {"root": f"file://{tmp_path}"},
        }
        output = run_tap(config)
    messages = [m for m in output.messages if m["type"] in ("SCHEMA", "BATCH")]
    first_batch = next(i for i, m in enumerate(messages) if m["type"] == "BATCH")
    declared = set(messages[first_batch - 1]["schema"]["properties"])
    assert {"id", "logDate", "mobileAppId"} <= declared
    assert {"id", "logDate", "mobileAppId"} - set(messages[0]["schema"]["properties"])
    fields: set[str] = set()
    for message in messages:
        if message["type"] == "SCHEMA":
            declared = set(message["schema"]["properties"])
            continue
        for url in message["manifest"]:
            with gzip.open(Path(urlparse(url).path), "rt") as handle:
                for line in handle:
                    row = json.loads(line)
                    assert set(row) <= declared, set(row) - declared
                    fields |= set(row)
    assert "resalePrice" in fields
