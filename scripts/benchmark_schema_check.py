"""What the schema-evolution check costs when no field is new: per record, and in records/s.

    .venv/bin/python scripts/benchmark_schema_check.py [--records 30000] [--repeat 3]
                                                      [--field-style extended]

1. The check alone: ``SchemaFollower.before_record`` on every record of the sandbox's
   TIXNGO and Akana streams (as the tap emits them), against an empty loop. With
   ``--field-style extended`` the records carry fields the schema did not declare: the
   follower declares them on the first record (not timed), then watches them on every one
   (type check, date-time normalisation): the steady cost once new fields exist.
2. The whole record path: the tap syncs TIXNGO and Akana from a sandbox in this process
   (stdout to /dev/null), with the hook as shipped and with it bypassed (the SDK's own
   ``before_record_message``); best of ``--repeat`` runs each, alternated; wall and CPU time.
Nothing here asserts a time: it prints figures.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from tap_ticketlogs.sandbox.core import FIELD_STYLES
from tap_ticketlogs.sandbox.server import Sandbox
from tap_ticketlogs.sdk_compat import SDKStream
from tap_ticketlogs.streams.base import TicketLogsStream
from tap_ticketlogs.streams.schema_evolution import SchemaFollower
from tap_ticketlogs.tap import TapTicketLogs

SOURCES = ("tixngo", "akana")


def config_of(sandbox: Sandbox) -> dict[str, Any]:
    config = sandbox.tap_config()
    return {key: config[key] for key in ("start_date", "end_date", "lag_minutes", *SOURCES)}


def emitted_records(config: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The records each stream emits, captured at the hook (before the writer)."""
    captured: dict[str, list[dict[str, Any]]] = {}

    def capture(stream: TicketLogsStream[Any], record: dict[str, Any]) -> dict[str, Any]:
        captured.setdefault(stream.name, []).append(dict(record))
        return record

    original = TicketLogsStream.before_record_message
    TicketLogsStream.before_record_message = capture  # type: ignore[assignment,method-assign]
    try:
        sync(config)
    finally:
        TicketLogsStream.before_record_message = original  # type: ignore[method-assign]
    return captured


def sync(config: dict[str, Any]) -> tuple[float, float]:
    """Wall and CPU seconds of one sync (CPU: this process, the sandbox's threads included;
    steadier than wall time on a machine other jobs share)."""
    tap = TapTicketLogs(config=config)
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        started, cpu_started = time.perf_counter(), time.process_time()
        tap.sync_all()
        return time.perf_counter() - started, time.process_time() - cpu_started


def check_alone(
    config: dict[str, Any], records: dict[str, list[dict[str, Any]]], style: str
) -> None:
    tap = TapTicketLogs(config=config)
    print(f"1. the check alone ({style} fields), ns per record")
    print(f"{'stream':<28}{'fields':>7}{'records':>9}{'empty loop':>12}{'check':>8}{'extra':>8}")
    for name, rows in records.items():
        stream = tap.streams[name]
        assert isinstance(stream, SDKStream)
        follower = SchemaFollower(stream, tap.logger)
        check = follower.before_record
        with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
            check(rows[0])  # declares what the extended style adds (its SCHEMA: discarded)
        declared = follower.schema_messages
        with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
            best_loop, best_check = time_loops(rows, check)
        # Extended style: the field that appears mid-data adds one SCHEMA during the loops.
        assert follower.schema_messages - declared <= 1
        per_loop, per_check = best_loop / len(rows), best_check / len(rows)
        print(
            f"{name:<28}{len(rows[0]):>7}{len(rows):>9}{per_loop:>12.0f}{per_check:>8.0f}"
            f"{per_check - per_loop:>8.0f}"
        )


def time_loops(
    rows: list[dict[str, Any]], check: Callable[[dict[str, Any]], None]
) -> tuple[float, float]:
    """Best of five: an empty loop over ``rows``, and one that checks each row."""
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
    return best_loop, best_check


def record_path(config: dict[str, Any], total: int, repeat: int) -> None:
    shipped = TicketLogsStream.before_record_message
    timings: dict[str, list[tuple[float, float]]] = {"hook bypassed": [], "hook as shipped": []}
    variants = {"hook bypassed": SDKStream.before_record_message, "hook as shipped": shipped}
    sync(config)  # warm-up: imports, first connections
    for run in range(repeat):
        # Alternate which variant goes first, so drift on a shared machine hits both.
        for name in sorted(variants, reverse=run % 2 == 1):
            TicketLogsStream.before_record_message = variants[name]  # type: ignore[method-assign]
            timings[name].append(sync(config))
    TicketLogsStream.before_record_message = shipped  # type: ignore[method-assign]
    print(f"2. the record path: {total} records (tixngo + akana), best of {repeat}")
    print(f"{'':<18}{'wall s':>8}{'rec/s':>9}{'CPU s':>8}{'µs CPU/rec':>12}{'CPU x bypassed':>16}")
    base_cpu = min(cpu for _, cpu in timings["hook bypassed"])
    for name, runs in timings.items():
        wall = min(w for w, _ in runs)
        cpu = min(c for _, c in runs)
        print(
            f"{name:<18}{wall:>8.2f}{total / wall:>9.0f}{cpu:>8.2f}{cpu / total * 1e6:>12.1f}"
            f"{cpu / base_cpu:>16.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=30_000, help="records per stream")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--field-style", choices=FIELD_STYLES, default="documented")
    args = parser.parse_args()
    with Sandbox(records=args.records, vendors=SOURCES, field_style=args.field_style) as sandbox:
        config = config_of(sandbox)
        records = emitted_records(config)
        check_alone(config, records, args.field_style)
        record_path(config, sum(len(rows) for rows in records.values()), args.repeat)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
