"""What the schema-evolution check costs when no field is new: per record, and in records/s.

    .venv/bin/python scripts/benchmark_schema_check.py [--records 30000] [--repeat 3]

1. The check alone: ``SchemaFollower.before_record`` on every record of the sandbox's
   TIXNGO and Akana streams (as the tap emits them), against an empty loop.
2. The whole record path: the tap syncs TIXNGO and Akana from a sandbox in this process
   (stdout to /dev/null), with the hook as shipped and with it bypassed (the SDK's own
   ``_write_record_message``); best of ``--repeat`` runs each, alternated.
Nothing here asserts a time: it prints figures.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from typing import Any

from singer_sdk import Stream

from tap_ticketlogs.client import TicketLogsStream
from tap_ticketlogs.sandbox.server import Sandbox
from tap_ticketlogs.schema_evolution import SchemaFollower
from tap_ticketlogs.tap import TapTicketLogs

SOURCES = ("tixngo", "akana")


def config_of(sandbox: Sandbox) -> dict[str, Any]:
    config = sandbox.tap_config()
    return {key: config[key] for key in ("start_date", "end_date", "lag_minutes", *SOURCES)}


def emitted_records(config: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The records each stream emits, captured at the hook (before the writer)."""
    captured: dict[str, list[dict[str, Any]]] = {}

    def capture(stream: TicketLogsStream, record: dict[str, Any]) -> None:
        captured.setdefault(stream.name, []).append(dict(record))

    original = TicketLogsStream._write_record_message
    TicketLogsStream._write_record_message = capture  # type: ignore[assignment,method-assign]
    try:
        sync(config)
    finally:
        TicketLogsStream._write_record_message = original  # type: ignore[method-assign]
    return captured


def sync(config: dict[str, Any]) -> float:
    tap = TapTicketLogs(config=config)
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        started = time.perf_counter()
        tap.sync_all()
        return time.perf_counter() - started


def check_alone(config: dict[str, Any], records: dict[str, list[dict[str, Any]]]) -> None:
    tap = TapTicketLogs(config=config)
    print("1. the check alone (no new field), ns per record")
    print(f"{'stream':<28}{'fields':>7}{'records':>9}{'empty loop':>12}{'check':>8}{'extra':>8}")
    for name, rows in records.items():
        follower = SchemaFollower(tap.streams[name], tap.logger)
        check = follower.before_record
        best_loop = best_check = float("inf")
        for _ in range(5):
            started = time.perf_counter_ns()
            for _row in rows:
                pass
            best_loop = min(best_loop, time.perf_counter_ns() - started)
            started = time.perf_counter_ns()
            for row in rows:
                check(row)
            best_check = min(best_check, time.perf_counter_ns() - started)
        assert follower.schema_messages == 0, "a field was new: not the case measured here"
        per_loop, per_check = best_loop / len(rows), best_check / len(rows)
        print(
            f"{name:<28}{len(rows[0]):>7}{len(rows):>9}{per_loop:>12.0f}{per_check:>8.0f}"
            f"{per_check - per_loop:>8.0f}"
        )


def record_path(config: dict[str, Any], total: int, repeat: int) -> None:
    shipped = TicketLogsStream._write_record_message
    timings: dict[str, list[float]] = {"hook bypassed": [], "hook as shipped": []}
    variants = {"hook bypassed": Stream._write_record_message, "hook as shipped": shipped}
    sync(config)  # warm-up: imports, first connections
    for run in range(repeat):
        # Alternate which variant goes first, so drift on a shared machine hits both.
        for name in sorted(variants, reverse=run % 2 == 1):
            TicketLogsStream._write_record_message = variants[name]  # type: ignore[method-assign]
            timings[name].append(sync(config))
    TicketLogsStream._write_record_message = shipped  # type: ignore[method-assign]
    print(f"2. the record path: {total} records (tixngo + akana), best of {repeat}")
    base = min(timings["hook bypassed"])
    for name, seconds in timings.items():
        best = min(seconds)
        print(f"{name:<18}{best:>8.2f} s{total / best:>10.0f} rec/s{base / best:>7.3f} x bypassed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=30_000, help="records per stream")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with Sandbox(records=args.records, vendors=SOURCES) as sandbox:
        config = config_of(sandbox)
        records = emitted_records(config)
        check_alone(config, records)
        record_path(config, sum(len(rows) for rows in records.values()), args.repeat)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
