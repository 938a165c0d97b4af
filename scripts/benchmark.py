"""Benchmark the tap against the sandbox: records/s, requests/s, peak RSS, and ratios.

    .venv/bin/python scripts/benchmark.py [--records 20000] [--latency-ms 20]
    .venv/bin/python scripts/benchmark.py --shards 1,2,4 [--records 16000] [--latency-ms 200]

Each scenario runs the real `tap-ticketlogs` command as a child process (stdout to
/dev/null) against a sandbox child process, in this process tree; peak RSS is the child's
own maximum resident set (wait4). Ratios compare with the baseline scenario
(`max_concurrency` 1) of the same run, so figures from different machines stay comparable.
Nothing here asserts a time: it prints figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

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
    args = parser.parse_args()
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


if __name__ == "__main__":
    main()
