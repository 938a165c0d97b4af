"""Benchmark the tap against the sandbox: records/s, requests/s, peak RSS, and ratios.

    .venv/bin/python scripts/benchmark.py [--records 20000] [--latency-ms 20]
    .venv/bin/python scripts/benchmark.py --shards 1,2,4 [--records 16000] [--latency-ms 200]
    .venv/bin/python scripts/benchmark.py --account-history [--latency-ms 0]

Each scenario runs the real `tap-ticketlogs` command as a child process (stdout to
/dev/null) against a sandbox child process, in this process tree; peak RSS is the child's
own maximum resident set (wait4). Ratios compare with the baseline scenario
(`max_concurrency` 1) of the same run, so figures from different machines stay comparable.
Nothing here asserts a time: it prints figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tap_ticketlogs.sandbox.akana import AkanaAPI
from tap_ticketlogs.sandbox.core import VendorAPI
from tap_ticketlogs.sandbox.huawei import HuaweiAPI
from tap_ticketlogs.sandbox.server import Sandbox
from tap_ticketlogs.sandbox.socialboards import SocialboardsAPI
from tap_ticketlogs.sandbox.tixngo import TixngoAPI

BIN = Path(sys.executable).parent


@dataclass
class Result:
    name: str
    seconds: float
    records: int
    requests: int
    peak_rss_mb: float

    @property
    def records_per_s(self) -> float:
        return self.records / self.seconds

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds


def sandbox_stats(url: str) -> dict[str, object]:
    with urllib.request.urlopen(f"{url}/_sandbox/stats") as response:  # noqa: S310 - loopback
        stats: dict[str, object] = json.load(response)
    return stats


def served_requests(url: str) -> int:
    requests = sandbox_stats(url)["requests"]
    assert isinstance(requests, dict)
    return sum(sum(by_status.values()) for by_status in requests.values())


def run_tap(name: str, config: dict[str, object], url: str, workdir: Path) -> Result:
    path = workdir / f"{name}.json"
    path.write_text(json.dumps(config))
    before = served_requests(url)
    started = time.perf_counter()
    with open(workdir / f"{name}.stdout", "w") as stdout, open(workdir / f"{name}.log", "w") as log:
        process = subprocess.Popen(  # noqa: S603 - our own command
            [str(BIN / "tap-ticketlogs"), "--config", str(path)], stdout=stdout, stderr=log
        )
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{name}: tap failed, see {workdir / (name + '.log')}")
    with open(workdir / f"{name}.stdout") as stdout:
        records = sum(1 for line in stdout if line.startswith('{"type":"RECORD"'))
    return Result(name, seconds, records, served_requests(url) - before, usage.ru_maxrss / 1024)


# Sources whose partitions are many: one per ticket (records / 8) and per case (records / 40).
MANY_PARTITION_SOURCES = ("socialboards", "huawei")


def run_shards(
    count: int, config: dict[str, object], url: str, workdir: Path
) -> tuple[float, int, int]:
    """Shards 0..count-1 as concurrent tap processes: wall seconds, records, requests."""
    before = served_requests(url)
    started = time.perf_counter()
    processes = []
    for index in range(count):
        name = f"shards{count}-{index}"
        path = workdir / f"{name}.json"
        path.write_text(json.dumps({**config, "shard_count": count, "shard_index": index}))
        command = [str(BIN / "tap-ticketlogs"), "--config", str(path)]
        stdout, log = workdir / f"{name}.stdout", workdir / f"{name}.log"
        with open(stdout, "w") as out, open(log, "w") as err:
            processes.append((name, subprocess.Popen(command, stdout=out, stderr=err)))  # noqa: S603
    for name, process in processes:
        if process.wait() != 0:
            sys.exit(f"{name}: tap failed, see {workdir / (name + '.log')}")
    seconds = time.perf_counter() - started
    records = 0
    for name, _ in processes:
        with open(workdir / f"{name}.stdout") as stdout:
            records += sum(1 for line in stdout if line.startswith('{"type":"RECORD"'))
    return seconds, records, served_requests(url) - before


def shard_benchmark(records: int, latency_ms: float, shard_counts: list[int]) -> None:
    """Many partitions (tickets, cases) extracted as 1, 2, 4... shards, one process each."""
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        config_path = workdir / "sandbox.json"
        sandbox = subprocess.Popen(  # noqa: S603
            [
                str(BIN / "tap-ticketlogs-sandbox"),
                "--records", str(records),
                "--latency-ms", str(latency_ms),
                "--write-config", str(config_path),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        try:
            assert sandbox.stdout is not None
            url = sandbox.stdout.readline().strip()
            full = json.loads(config_path.read_text())
            config = {key: value for key, value in full.items() if key not in ("tixngo", "akana")}
            results = [(count, *run_shards(count, config, url, workdir)) for count in shard_counts]
        finally:
            sandbox.terminate()
            sandbox.wait()
    partitions = records // 8 + records // 40
    print(
        f"sandbox: {records} records per stream of {', '.join(MANY_PARTITION_SOURCES)} "
        f"(~{partitions} ticket and case partitions), {latency_ms:g} ms latency per request, "
        f"{os.cpu_count()} CPUs shared with the sandbox"
    )
    print(f"{'shards':<8}{'s':>7}{'records':>9}{'rec/s':>9}{'req':>7}{'req/s':>8}{'x 1st':>7}")
    first = results[0][1]
    for count, seconds, loaded, requests in results:
        print(
            f"{count:<8}{seconds:>7.2f}{loaded:>9}{loaded / seconds:>9.0f}{requests:>7}"
            f"{requests / seconds:>8.1f}{first / seconds:>7.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=20_000, help="records per stream")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="sandbox delay per request")
    parser.add_argument(
        "--shards",
        help="instead: the many-partition scenario as these shard counts, e.g. 1,2,4",
    )
    parser.add_argument(
        "--account-history",
        action="store_true",
        help="instead: one incremental run per source after 1, 6 and 24 months of history, "
        "and the STATE messages of a 5-year backfill of 20 apps",
    )
    args = parser.parse_args()
    if args.account_history:
        account_history(args.latency_ms)
        backfill_state_messages(args.latency_ms)
        return
    if args.shards:
        counts = [int(count) for count in args.shards.split(",")]
        shard_benchmark(args.records, args.latency_ms, counts)
        return

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        config_path = workdir / "sandbox.json"
        sandbox = subprocess.Popen(  # noqa: S603
            [
                str(BIN / "tap-ticketlogs-sandbox"),
                "--records", str(args.records),
                "--latency-ms", str(args.latency_ms),
                "--write-config", str(config_path),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        try:
            assert sandbox.stdout is not None
            url = sandbox.stdout.readline().strip()
            config = json.loads(config_path.read_text())
            scenarios = {
                "baseline: 1 request at a time": {**config, "max_concurrency": 1},
                "concurrent: max_concurrency 8": {**config, "max_concurrency": 8},
                "concurrent: max_concurrency 16": {**config, "max_concurrency": 16},
            }
            results = [
                run_tap(f"run{index}", scenario, url, workdir)
                for index, scenario in enumerate(scenarios.values())
            ]
            for result, name in zip(results, scenarios, strict=True):
                result.name = name
        finally:
            sandbox.terminate()
            sandbox.wait()

    baseline = results[0]
    print(
        f"sandbox: {args.records} records per stream, 6 streams, "
        f"{args.latency_ms:g} ms latency per request"
    )
    header = f"{'scenario':<34}{'s':>7}{'records':>9}{'rec/s':>9}{'req':>6}{'req/s':>8}"
    print(header + f"{'RSS MB':>8}{'x base':>8}")
    for result in results:
        print(
            f"{result.name:<34}{result.seconds:>7.2f}{result.records:>9}"
            f"{result.records_per_s:>9.0f}{result.requests:>6}{result.requests_per_s:>8.1f}"
            f"{result.peak_rss_mb:>8.1f}{baseline.seconds / result.seconds:>8.2f}"
        )


# -- account history: does an incremental run cost the same in year two as in month one? ---

HISTORY_MONTHS = (1, 6, 24)
HISTORY_SOURCES = ("tixngo", "akana", "socialboards", "huawei")
# Records per stream and day of history.
RECORDS_PER_DAY = 20
NEW_RECORDS = 30  # the new day the incremental run has to find
HISTORY_END = dt.datetime(2026, 1, 31, tzinfo=dt.timezone.utc)


def history_sandbox(months: int, latency_ms: float) -> Sandbox:
    """A sandbox whose four APIs hold ``months`` of history at one steady rate, a day at a
    time after a small first month, ending where the default sandbox's data does (in the
    past, so a run reads all of it)."""
    start = HISTORY_END - dt.timedelta(days=30 * (months + 1))
    apis: dict[str, VendorAPI] = {
        "tixngo": TixngoAPI(seed=15, records=RECORDS_PER_DAY, start=start),
        "akana": AkanaAPI(seed=15, records=RECORDS_PER_DAY, start=start),
        "socialboards": SocialboardsAPI(seed=15, records=RECORDS_PER_DAY, start=start),
        "huawei": HuaweiAPI(seed=15, records=RECORDS_PER_DAY, start=start),
    }
    sandbox = Sandbox(apis=apis, vendors=(), latency_ms=latency_ms)
    for _ in range(30 * months):
        sandbox.append(RECORDS_PER_DAY)
    return sandbox.start()


def run_tap_command(
    config: dict[str, Any], state: dict[str, Any] | None, workdir: Path, name: str
) -> tuple[float, list[str]]:
    """Run ``tap-ticketlogs`` once; its wall time and its stdout lines."""
    config_path = workdir / f"{name}.json"
    config_path.write_text(json.dumps(config))
    command = [str(BIN / "tap-ticketlogs"), "--config", str(config_path)]
    if state is not None:
        state_path = workdir / f"{name}.state.json"
        state_path.write_text(json.dumps(state))
        command += ["--state", str(state_path)]
    started = time.perf_counter()
    with open(workdir / f"{name}.stdout", "w") as stdout, open(workdir / f"{name}.log", "w") as log:
        status = subprocess.run(command, stdout=stdout, stderr=log, check=False).returncode  # noqa: S603
    seconds = time.perf_counter() - started
    if status != 0:
        sys.exit(f"{name}: tap failed, see {workdir / (name + '.log')}")
    return seconds, (workdir / f"{name}.stdout").read_text().splitlines()


def last_state(lines: list[str]) -> dict[str, Any]:
    state: dict[str, Any] = next(
        json.loads(line)["value"] for line in reversed(lines) if line.startswith('{"type":"STATE"')
    )
    return state


def sandbox_requests(sandbox: Sandbox) -> int:
    return sum(sum(by_status.values()) for by_status in sandbox.stats()["requests"].values())


def account_history(latency_ms: float) -> None:
    """Per source: requests and seconds of one incremental run after N months of history."""
    rows: dict[str, dict[int, tuple[int, float, int]]] = {src: {} for src in HISTORY_SOURCES}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for months in HISTORY_MONTHS:
            sandbox = history_sandbox(months, latency_ms)
            try:
                config = {**sandbox.tap_config(), "max_concurrency": 8}
                _, lines = run_tap_command(config, None, workdir, f"full-{months}")
                state = last_state(lines)
                sandbox.append(NEW_RECORDS)
                config = {**sandbox.tap_config(), "max_concurrency": 8}
                for source in HISTORY_SOURCES:
                    only = {k: v for k, v in config.items() if k not in HISTORY_SOURCES}
                    only[source] = config[source]
                    before = sandbox_requests(sandbox)
                    seconds, lines = run_tap_command(only, state, workdir, f"{source}-{months}")
                    records = sum(1 for line in lines if line.startswith('{"type":"RECORD"'))
                    rows[source][months] = (sandbox_requests(sandbox) - before, seconds, records)
            finally:
                sandbox.stop()
    print(
        f"account history: {RECORDS_PER_DAY} records per stream a day; "
        f"then one new day ({NEW_RECORDS} records per stream) "
        f"and one incremental run per source; {latency_ms:g} ms latency per request"
    )
    header = f"{'source':<14}" + "".join(
        f"{f'{m} mo req':>10}{'s':>7}{'rec':>6}" for m in HISTORY_MONTHS
    )
    print(header + f"{'24/1':>7}")
    for source, by_months in rows.items():
        cells = "".join(
            f"{requests:>10}{seconds:>7.2f}{records:>6}"
            for requests, seconds, records in (by_months[m] for m in HISTORY_MONTHS)
        )
        ratio = by_months[HISTORY_MONTHS[-1]][0] / max(1, by_months[HISTORY_MONTHS[0]][0])
        print(f"{source:<14}{cells}{ratio:>7.2f}")


BACKFILL_APPS = 20
BACKFILL_DAYS = 5 * 365


def backfill_state_messages(latency_ms: float) -> None:
    """STATE messages (and their bytes) of a 5-year backfill of 20 TIXNGO apps."""
    start = HISTORY_END - dt.timedelta(days=BACKFILL_DAYS)
    api = TixngoAPI(seed=15, records=BACKFILL_APPS * 30, start=start, extra_apps=BACKFILL_APPS - 3)
    for _ in range(BACKFILL_DAYS - 30):
        api.append(BACKFILL_APPS)
    sandbox = Sandbox(apis={"tixngo": api}, vendors=("tixngo",), latency_ms=latency_ms).start()
    try:
        config = {**sandbox.tap_config(), "max_concurrency": 8}
        windows = BACKFILL_APPS * BACKFILL_DAYS
        with tempfile.TemporaryDirectory() as tmp:
            seconds, lines = run_tap_command(config, None, Path(tmp), "backfill")
        states = [line for line in lines if line.startswith('{"type":"STATE"')]
    finally:
        sandbox.stop()
    print(
        f"backfill: {BACKFILL_APPS} apps x {BACKFILL_DAYS} days in 24 h windows ({windows} "
        f"windows, {sandbox_requests(sandbox)} requests) in {seconds:.1f} s: {len(states)} STATE "
        f"messages, {sum(map(len, states)) / 1e6:.2f} MB (a STATE per window would be "
        f"{windows} messages, ~{windows * len(states[-1]) / 1e6:.0f} MB)"
    )


if __name__ == "__main__":
    main()
