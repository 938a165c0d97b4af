"""Benchmark the tap: bulk speed and CPU against a plain loop, flat memory, many partitions.

    .venv/bin/python scripts/benchmark.py            # the full run (a few minutes)
    .venv/bin/python scripts/benchmark.py --smoke    # small figures in ~30 s (the tests run it)
    .venv/bin/python scripts/benchmark.py --shards 1,2,4 [--records 16000] [--latency-ms 200]
    .venv/bin/python scripts/benchmark.py --account-history [--latency-ms 0]
    .venv/bin/python scripts/benchmark.py --parts e2e [--e2e-records 150000]  # into PostgreSQL
    .venv/bin/python scripts/benchmark.py --parts coupling  # what sdk_compat's record path buys

Everything runs as child processes of this one, on the same machine, in one run, so the
ratios printed compare like with like (absolute figures move with the machine's load):

* bulk: the real ``tap-ticketlogs`` command and a plain ``requests`` + orjson loop (one
  line per record, sequential pages) read the same TIXNGO-style server: records/s of each,
  their ratio, and client CPU (user + system) per record. The server is a streaming
  TIXNGO look-alike in this file: it makes pages from the record index on the fly, so it
  can serve millions of entries without holding them (the sandbox keeps every entry).
* memory: peak RSS of the tap reading ``--rss-records`` entries (e.g. 100 000 and
  2 000 000), each partition in ONE time window, pages of 10 000.
* many partitions: the Socialboards sandbox (tickets, their logs in chains of 1-2 pages,
  ``--latency-ms`` per request) at ``max_concurrency`` 1, 8 and 16: wall time and the
  time from the first request to the last answer (what concurrency can shorten; the
  interpreter's start-up is not in it), speed-ups over 1, and the ideal bound
  (requests x latency / concurrency).
* occupancy (with many partitions): the Socialboards sandbox with even (two pages each)
  and skewed (most one page, a few a dozen) ticket logs, ``--latency-ms`` per request, at
  ``max_concurrency`` 1, 8 and 16, and ten times the tickets, skewed, at 8 and 16: mean
  requests in flight / max_concurrency from the first request to the last answer, by the
  sandbox's request log (arrival and answer times), and the share of that span with every
  worker busy, next to the wall-clock speed-up over 1 and its bound (the time outside the
  requests' span as at 1, plus requests x latency / concurrency).
* coupling (only with ``--parts coupling``): the bulk read by the tap as shipped, with
  sdk_compat's "lean record write" off (the SDK's per-record message path), and with the
  SDK's message writer instead of streams/output.py's too, each twice, alternated: what the
  tap's own record path buys.
* e2e (only with ``--parts e2e``): the TIXNGO sandbox -> ``meltano run tap-ticketlogs
  LOADER`` (target-postgres with several settings, pipelinewise-target-postgres) into a fresh
  schema of the local PostgreSQL, per loader variant, next to a dlt ``rest_api`` pipeline
  reading the same sandbox into the same database; rows counted in the database against the
  sandbox's own count, CPU of the load's processes, and a fidelity probe per loader variant
  (Singer messages with values a careless loader changes, read back with SQL).

Peak RSS and CPU come from ``wait4`` on each child. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import compileall
import datetime as dt
import decimal
import json
import os
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import benchmark_plots
import msgspec

from tap_ticketlogs.sandbox.core import SHAPED_PAGES_PER_PARTITION, VendorAPI
from tap_ticketlogs.sandbox.server import Occupancy, Sandbox
from tap_ticketlogs.sources.akana.sandbox import AkanaAPI
from tap_ticketlogs.sources.huawei.sandbox import HuaweiAPI
from tap_ticketlogs.sources.socialboards.sandbox import MAX_TAKE as SOCIALBOARDS_MAX_TAKE
from tap_ticketlogs.sources.socialboards.sandbox import SocialboardsAPI
from tap_ticketlogs.sources.tixngo.sandbox import MOBILE_APPS, TixngoAPI

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent
RECORD_MARK = b'{"type":"RECORD"'
APPS = ("app-benchmark-1", "app-benchmark-2", "app-benchmark-3")
START = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
SPAN = dt.timedelta(days=7)
BULK_PATH = "/organizer/report/ticket-status-logs"
PAGE_SIZE = 10_000
ACTIONS = ("Activate", "Transfer", "Accept transfer", "Scan", "Download")


@dataclass
class Run:
    """One child process: wall seconds, records written, CPU seconds, peak RSS."""

    seconds: float
    records: int
    cpu_seconds: float
    peak_rss_mb: float

    @property
    def records_per_s(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0

    @property
    def cpu_us_per_record(self) -> float:
        return 1e6 * self.cpu_seconds / self.records if self.records else 0.0

    def figures(self) -> dict[str, float]:
        """What the plots show of this run (scripts/benchmark_plots.py)."""
        return {
            "records": self.records,
            "records_per_s": self.records_per_s,
            "peak_rss_mb": self.peak_rss_mb,
            "cpu_us_per_record": self.cpu_us_per_record,
        }


def cpu_seconds_of(pid: int) -> float | None:
    """CPU (user + system) a running process has used so far; None where /proc is absent."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # utime and stime: fields 14 and 15 of proc(5), 12 and 13 after the command name.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_counting(command: list[str], log: Path) -> Run:
    """Run a command, count the RECORD lines it writes, measure it with wait4."""
    started = time.perf_counter()
    with open(log, "wb") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr)  # noqa: S603
        assert process.stdout is not None
        records, tail = 0, b""
        while chunk := process.stdout.read(1 << 20):
            window = tail + chunk
            records += window.count(RECORD_MARK)
            # Keep the tail that could hold the start of a mark cut by the chunk boundary.
            tail = window[-(len(RECORD_MARK) - 1) :]
            records -= tail.count(RECORD_MARK)
        records += tail.count(RECORD_MARK)
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{command[0]} failed, see {log}:\n{log.read_text()[-2000:]}")
    return Run(seconds, records, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


# The streaming TIXNGO-style server (run as `benchmark.py serve`).


def entry(app_index: int, index: int, step: float) -> dict[str, Any]:
    when = START + dt.timedelta(seconds=index * step)
    return {
        "ticketId": f"TKT-{app_index}-{index:09d}",
        "eventId": f"EVT-{index % 11:03d}",
        "actionName": ACTIONS[index % len(ACTIONS)],
        "fromStatus": "DOWNLOADED",
        "toStatus": "ACTIVATED",
        "fromOwnerId": f"user-{index % 397:04d}",
        "toOwnerId": f"user-{index % 389:04d}",
        "actor": "MOBILE_APP",
        "actionDate": when.isoformat(timespec="milliseconds"),
        "deviceOs": ("ios", "android", None)[index % 3],
    }


def serve(records: int) -> None:
    """Serve ``records`` entries spread over APPS and SPAN, made on the fly."""
    # The first apps take the remainder, so the apps hold exactly ``records`` in all.
    per_app = [records // len(APPS) + (i < records % len(APPS)) for i in range(len(APPS))]

    def index_at(app_index: int, value: str) -> int:
        instant = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        step = SPAN.total_seconds() / per_app[app_index]
        seconds = (instant - START).total_seconds()
        return max(0, min(per_app[app_index], -int(-seconds // step)))

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {key: values[0] for key, values in parse_qs(parts.query).items()}
            app_index = APPS.index(query["mobileAppId"])
            first = index_at(app_index, query["from"])
            last = index_at(app_index, query["to"])
            step = SPAN.total_seconds() / per_app[app_index]
            offset = first + int(query.get("paginationKey") or 0)
            limit = int(query.get("limit") or PAGE_SIZE)
            end = min(last, offset + limit)
            page: dict[str, Any] = {
                "pagination": {"limit": limit},
                "result": [entry(app_index, index, step) for index in range(offset, end)],
            }
            if end < last:
                page["pagination"]["nextPageKey"] = str(end - first)
            body = msgspec.json.encode(page)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:  # noqa: ANN401, ARG002 - quiet
            return

    ThreadingHTTPServer.request_queue_size = 128  # no SYN dropped when threads connect at once
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


class Child:
    """A server child process printing its URL on its first line."""

    def __init__(self, command: list[str]) -> None:
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)  # noqa: S603
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait()


def bulk_config(url: str, *, window_hours: int, concurrency: int) -> dict[str, Any]:
    return {
        "start_date": START.isoformat(),
        "end_date": (START + SPAN).isoformat(),
        "lag_minutes": 0,
        "max_concurrency": concurrency,
        "tixngo": {
            "base_url": url,
            "api_key": "benchmark-key",
            "mobile_app_ids": list(APPS),
            "window_hours": window_hours,
            "page_size": PAGE_SIZE,
        },
    }


PLAIN_LOOP = textwrap.dedent(
    """
    import sys, orjson, requests
    url, start, end, apps = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    out = sys.stdout.buffer
    session = requests.Session()
    for app in apps:
        key = None
        while True:
            params = {"mobileAppId": app, "from": start, "to": end, "limit": 10000}
            if key:
                params["paginationKey"] = key
            body = orjson.loads(session.get(url, params=params, timeout=60).content)
            for record in body["result"]:
                record["mobile_app_id"] = app
                out.write(orjson.dumps({"type": "RECORD", "stream": "logs", "record": record}))
                out.write(b"\\n")
            key = (body.get("pagination") or {}).get("nextPageKey")
            if not key:
                break
    """
)


def tap_command(config: dict[str, Any], workdir: Path, name: str) -> list[str]:
    path = workdir / f"{name}.json"
    path.write_text(json.dumps(config))
    return [str(BIN / "tap-ticketlogs"), "--config", str(path)]


def bulk(records: int, workdir: Path) -> None:
    with Child([sys.executable, __file__, "serve", "--records", str(records)]) as server:
        config = bulk_config(server.url, window_hours=24, concurrency=8)
        server_cpu = [cpu_seconds_of(server.process.pid)]
        tap = run_counting(tap_command(config, workdir, "bulk"), workdir / "bulk.log")
        server_cpu.append(cpu_seconds_of(server.process.pid))
        loop = run_counting(
            [
                sys.executable,
                "-c",
                PLAIN_LOOP,
                server.url + BULK_PATH,
                START.isoformat(),
                (START + SPAN).isoformat(),
                *APPS,
            ],
            workdir / "loop.log",
        )
        server_cpu.append(cpu_seconds_of(server.process.pid))
    print(f"\nbulk: {records} TIXNGO-style entries, 3 apps, 24 h windows, pages of {PAGE_SIZE}")
    # The server's CPU while each client ran: the loop waits for it page after page, the
    # tap overlaps it with its own work (both share the machine's cores).
    print(
        f"{'client':<34}{'records':>10}{'s':>8}{'records/s':>11}{'CPU µs/rec':>12}{'RSS MB':>8}"
        f"{'server CPU µs/rec':>19}"
    )
    runs = (("tap (max_concurrency 8)", tap), ("plain requests + orjson loop", loop))
    for client, run in (("tap", tap), ("loop", loop)):
        benchmark_plots.FIGURES["bulk"].append({"client": client, **run.figures()})
    for index, (name, run) in enumerate(runs):
        before, after = server_cpu[index], server_cpu[index + 1]
        served = (
            f"{1e6 * (after - before) / run.records:.1f}"
            if before is not None and after is not None and run.records
            else "-"
        )
        print(
            f"{name:<34}{run.records:>10}{run.seconds:>8.2f}{run.records_per_s:>11.0f}"
            f"{run.cpu_us_per_record:>12.1f}{run.peak_rss_mb:>8.1f}{served:>19}"
        )
    print(f"tap / loop records/s: {tap.records_per_s / loop.records_per_s:.2f}")


def memory(sizes: list[int], workdir: Path) -> None:
    print("\nmemory: peak RSS of the tap, ONE window per partition (3 apps), pages of 10 000")
    print(f"{'records':>10}{'s':>8}{'records/s':>11}{'CPU µs/rec':>12}{'RSS MB':>8}{'x first':>9}")
    first: Run | None = None
    for size in sizes:
        with Child([sys.executable, __file__, "serve", "--records", str(size)]) as server:
            config = bulk_config(
                server.url, window_hours=int(SPAN.total_seconds() // 3600), concurrency=8
            )
            run = run_counting(tap_command(config, workdir, f"rss{size}"), workdir / "rss.log")
        first = first or run
        benchmark_plots.FIGURES["memory"].append(run.figures())
        print(
            f"{run.records:>10}{run.seconds:>8.2f}{run.records_per_s:>11.0f}"
            f"{run.cpu_us_per_record:>12.1f}{run.peak_rss_mb:>8.1f}"
            f"{run.peak_rss_mb / first.peak_rss_mb:>9.2f}"
        )


def sandbox_log(url: str) -> list[list[Any]]:
    """The sandbox's request log: [arrival seconds, route, status] of its latest requests."""
    with urllib.request.urlopen(f"{url}/_sandbox/requests") as response:  # noqa: S310 - loopback
        served: list[dict[str, Any]] = json.load(response)["requests"]
    return [[entry["at"], entry["route"], entry["status"]] for entry in served]


def many_partitions(tickets: int, latency_ms: float, levels: list[int], workdir: Path) -> None:
    config_path = workdir / "sandbox.json"
    sandbox = [
        str(BIN / "tap-ticketlogs-sandbox"),
        "--records",
        str(tickets * 8),  # the sandbox makes one ticket per 8 log entries
        "--latency-ms",
        str(latency_ms),
        "--write-config",
        str(config_path),
    ]
    results: list[tuple[int, Run, int, float]] = []
    with Child(sandbox) as server:
        full = json.loads(config_path.read_text())
        config = {key: full[key] for key in ("start_date", "end_date", "lag_minutes")}
        config["socialboards"] = full["socialboards"]  # log pages of 50 entries
        for level in levels:
            before = len(sandbox_log(server.url))
            command = tap_command({**config, "max_concurrency": level}, workdir, f"many{level}")
            run = run_counting(command, workdir / "many.log")
            served = sandbox_log(server.url)[before:]
            # From the first request sent to the last answered: the run without the
            # interpreter's start-up, which no concurrency can shorten.
            span = served[-1][0] - served[0][0] + latency_ms / 1000
            results.append((level, run, len(served), span))
    base, base_span = results[0][1], results[0][3]
    print(
        f"\nmany partitions: Socialboards, {tickets} tickets, pages of 50 entries, "
        f"{latency_ms:g} ms per request"
    )
    print(
        f"{'max_concurrency':>16}{'requests':>10}{'wall s':>8}{'x seq':>7}"
        f"{'requests s':>12}{'x seq':>7}{'ideal x':>9}{'of ideal':>10}"
    )
    for level, run, requests, span in results:
        ideal = base_span / (requests * latency_ms / 1000 / level)
        speedup = base_span / span
        benchmark_plots.FIGURES["many"].append(
            {
                "max_concurrency": level,
                "speedup": speedup,
                "wall_speedup": base.seconds / run.seconds,
                "ideal": ideal,
            }
        )
        print(
            f"{level:>16}{requests:>10}{run.seconds:>8.2f}{base.seconds / run.seconds:>7.2f}"
            f"{span:>12.2f}{speedup:>7.2f}{ideal:>9.2f}{speedup / ideal:>10.0%}"
        )
    occupancy_figures(tickets, latency_ms, levels, workdir)


# -- occupancy: are max_concurrency requests in flight, whatever the partitions' lengths? --


@dataclass
class OccupancyRun:
    """One tap run against the sandbox: the process, its requests and their occupancy."""

    level: int
    run: Run
    requests: int
    occupancy: Occupancy

    def ideal_span(self, latency_ms: float) -> float:
        """Requests x latency / concurrency: the span if every worker were always busy."""
        return self.requests * latency_ms / 1000 / self.level


def occupancy_runs(
    shape: str, tickets: int, latency_ms: float, levels: list[int], workdir: Path
) -> list[OccupancyRun]:
    """The Socialboards sandbox with ``shape`` partition lengths, read at each level."""
    records = int(tickets * SHAPED_PAGES_PER_PARTITION * SOCIALBOARDS_MAX_TAKE)
    runs: list[OccupancyRun] = []
    # In this process, which only reads the tap's output meanwhile: the tap has its own.
    with Sandbox(
        records=records,
        latency_ms=latency_ms,
        partition_lengths=shape,
        vendors=("socialboards",),
    ) as sandbox:
        config = {**source_section(sandbox, "socialboards")}
        for level in levels:
            sandbox.request_log.clear()
            command = tap_command({**config, "max_concurrency": level}, workdir, f"occ{level}")
            run = run_counting(command, workdir / "occupancy.log")
            served = list(sandbox.request_log)
            runs.append(OccupancyRun(level, run, len(served), Occupancy.of(served, level)))
    return runs


def source_section(sandbox: Sandbox, source: str) -> dict[str, Any]:
    full = sandbox.tap_config()
    return {key: full[key] for key in ("start_date", "end_date", "lag_minutes", source)}


def occupancy_figures(tickets: int, latency_ms: float, levels: list[int], workdir: Path) -> None:
    """Occupancy (mean requests in flight / max_concurrency, first request to last answer,
    from the sandbox's request log) next to the wall-clock speed-up and its bound; then
    ten times the tickets, skewed, without a sequential run (the bound's figures)."""
    levels = [level for level in levels if level != 1]
    many_parents = 10 * tickets
    print(
        f"\noccupancy: Socialboards, {tickets} tickets, logs in pages of "
        f"{SOCIALBOARDS_MAX_TAKE}, {latency_ms:g} ms per request (in flight: the sandbox's log)"
    )
    print(
        f"{'partitions':<12}{'max_conc':>9}{'requests':>9}{'wall s':>8}{'x seq':>7}"
        f"{'bound x':>8}{'span s':>8}{'ideal s':>8}{'occupancy':>10}{'all busy':>9}"
    )
    for shape in ("even", "skewed"):
        runs = occupancy_runs(shape, tickets, latency_ms, [1, *levels], workdir)
        sequential = runs[0]
        # What no concurrency shortens: the process before its first request and after its
        # last answer (the interpreter's start-up, discovery, the last writes).
        fixed = sequential.run.seconds - sequential.occupancy.span_s
        for entry in runs:
            bound = sequential.run.seconds / (fixed + entry.ideal_span(latency_ms))
            print_occupancy_row(
                shape, entry, latency_ms, sequential.run.seconds, bound if entry.level > 1 else None
            )
    for entry in occupancy_runs("skewed", many_parents, latency_ms, levels, workdir):
        print_occupancy_row(f"{many_parents} skewed", entry, latency_ms, None, None)


def print_occupancy_row(
    label: str,
    entry: OccupancyRun,
    latency_ms: float,
    sequential_s: float | None,
    bound: float | None,
) -> None:
    speedup = f"{sequential_s / entry.run.seconds:>7.2f}" if sequential_s else f"{'-':>7}"
    bound_text = f"{bound:>8.2f}" if bound else f"{'-':>8}"
    occupancy = entry.occupancy
    print(
        f"{label:<12}{entry.level:>9}{entry.requests:>9}{entry.run.seconds:>8.2f}{speedup}"
        f"{bound_text}{occupancy.span_s:>8.2f}{entry.ideal_span(latency_ms):>8.2f}"
        f"{occupancy.mean_in_flight / entry.level:>10.2f}{occupancy.share_full:>9.0%}"
    )


def served_requests(url: str) -> int:
    """Requests the sandbox has answered so far, by any path and status."""
    with urllib.request.urlopen(f"{url}/_sandbox/stats") as response:  # noqa: S310 - loopback
        stats: dict[str, Any] = json.load(response)
    return sum(sum(by_status.values()) for by_status in stats["requests"].values())


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
        with open(workdir / f"{name}.stdout") as output:
            records += sum(1 for line in output if line.startswith('{"type":"RECORD"'))
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
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--smoke", action="store_true", help="small figures, ~30 s")
    parser.add_argument(
        "--bulk-records",
        default="300000,1000000",
        help="comma-separated; the larger size shows the tap once its start-up is amortised",
    )
    parser.add_argument("--rss-records", default="100000,2000000", help="comma-separated")
    parser.add_argument("--tickets", type=int, default=200)
    parser.add_argument(
        "--latency-ms",
        type=float,
        help="sandbox delay per request (many partitions: 100; --shards, --account-history: 20)",
    )
    parser.add_argument("--concurrency", default="1,8,16", help="comma-separated")
    parser.add_argument("--parts", default="bulk,memory,many", help="which parts to run")
    parser.add_argument(
        "--shards",
        help="instead: the many-partition scenario as these shard counts, e.g. 1,2,4",
    )
    parser.add_argument(
        "--records", type=int, help="with --shards: sandbox records per stream (20 000)"
    )
    parser.add_argument(
        "--account-history",
        action="store_true",
        help="instead: one incremental run per source after 1, 6 and 24 months of history, "
        "and the STATE messages of a 5-year backfill of 20 apps",
    )
    parser.add_argument(
        "--e2e-records", type=int, default=150_000, help="with --parts e2e: sandbox entries"
    )
    parser.add_argument(
        "--e2e-variants",
        help="with --parts e2e: only these variants, by letter (e.g. c,e,p,g); default all",
    )
    parser.add_argument(
        "--postgres-url",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/test",
        help="with --parts e2e: the database (a fresh schema per variant, dropped after)",
    )
    parser.add_argument(
        "--dlt-python",
        default=str(ROOT / ".venv-dlt" / "bin" / "python"),
        help=f"with --parts e2e: a Python with dlt installed ({DLT_INSTALL})",
    )
    parser.add_argument("command", nargs="?", choices=["serve", "sandbox"], help=argparse.SUPPRESS)
    args = benchmark_plots.parse_args_with_plots(parser)
    if args.command == "serve":
        serve(args.records)
        return
    if args.command == "sandbox":
        tixngo_sandbox(args.records)
        return
    if args.account_history:
        latency = 20.0 if args.latency_ms is None else args.latency_ms
        account_history(latency)
        backfill_state_messages(latency)
        return
    if args.shards:
        counts = [int(count) for count in args.shards.split(",")]
        latency = 20.0 if args.latency_ms is None else args.latency_ms
        shard_benchmark(args.records or 20_000, latency, counts)
        return
    if args.smoke:
        args.bulk_records, args.rss_records, args.tickets = "30000", "9000,60000", 24
        args.latency_ms, args.concurrency = 20.0, "1,8"
    print(f"benchmark on {os.cpu_count()} cores, figures from this one run")
    compile_the_tap()
    with tempfile.TemporaryDirectory() as tmp, benchmark_plots.plotted(args.plots):
        workdir = Path(tmp)
        parts = args.parts.split(",")
        if "bulk" in parts:
            for size in args.bulk_records.split(","):
                bulk(int(size), workdir)
        if "memory" in parts:
            memory([int(size) for size in args.rss_records.split(",")], workdir)
        if "many" in parts:
            levels = [int(level) for level in args.concurrency.split(",")]
            latency = 100.0 if args.latency_ms is None else args.latency_ms
            many_partitions(args.tickets, latency, levels, workdir)
        if "coupling" in parts:
            coupling(int(args.bulk_records.split(",")[0]), workdir)
        if "e2e" in parts:
            only = set(args.e2e_variants.split(",")) if args.e2e_variants else None
            end_to_end(args.e2e_records, args.postgres_url, Path(args.dlt_python), workdir, only)


# -- sdk coupling: what the record path's SDK internals buy ------------------------------

#: The tap command with sdk_compat entries switched off, to measure what each one buys.
COUPLING_VARIANTS = {
    "as shipped": "",
    "the SDK's record write": (
        "from tap_ticketlogs.sdk_compat import SDKStream\n"
        "assert hasattr(SDKStream, '_lean_writer'), 'the lean path was renamed'\n"
        "SDKStream._lean_writer = lambda self: None\n"
    ),
    "and the SDK's message writer": (
        "from singer_sdk.io_base import SingerWriter\n"
        "from tap_ticketlogs.sdk_compat import SDKStream\n"
        "from tap_ticketlogs.tap import TapTicketLogs\n"
        "SDKStream._lean_writer = lambda self: None\n"
        "TapTicketLogs.message_writer_class = SingerWriter\n"
    ),
}


def coupling(records: int, workdir: Path) -> None:
    """The bulk read as shipped, with sdk_compat's "lean record write" switched off, and with
    the SDK's message writer instead of streams/output.py's too, each variant twice,
    alternated: records/s, CPU per record."""
    with Child([sys.executable, __file__, "serve", "--records", str(records)]) as server:
        config = bulk_config(server.url, window_hours=24, concurrency=8)
        command = tap_command(config, workdir, "coupling")
        runs: dict[str, list[Run]] = {name: [] for name in COUPLING_VARIANTS}
        for _ in range(2):
            for name, patch in COUPLING_VARIANTS.items():
                script = f"{patch}import sys\nfrom tap_ticketlogs.cli import main\nmain()\n"
                variant = [sys.executable, "-c", script, *command[1:]]
                runs[name].append(run_counting(variant, workdir / "coupling.log"))
    print(f"\nsdk coupling: {records} TIXNGO-style entries as in bulk, each variant twice")
    print(f"{'tap variant':<36}{'records':>9}{'records/s':>20}{'CPU µs/rec':>16}{'x shipped':>11}")
    shipped = min(run.cpu_us_per_record for run in runs["as shipped"])
    for name, variant_runs in runs.items():
        rates = " / ".join(f"{run.records_per_s:.0f}" for run in variant_runs)
        cpus = " / ".join(f"{run.cpu_us_per_record:.1f}" for run in variant_runs)
        best = min(run.cpu_us_per_record for run in variant_runs)
        print(f"{name:<36}{variant_runs[0].records:>9}{rates:>20}{cpus:>16}{best / shipped:>11.2f}")


def compile_the_tap() -> None:
    """Byte-compile the tap's modules, as pip does when it installs a wheel.

    The project is installed editable (``pip install -e``): Python compiles its modules at
    the first start and writes the bytecode next to them, unless PYTHONDONTWRITEBYTECODE is
    set, as on the development machine, where every start then compiles them again (0.17 s
    of each tap process's start-up). The plain loop's libraries were compiled by pip.
    """
    if not compileall.compile_dir(ROOT / "tap_ticketlogs", quiet=1, force=False):
        sys.exit("could not byte-compile tap_ticketlogs")


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


# -- end to end into PostgreSQL: what the user waits for, per loader variant, next to dlt ---

E2E_STREAM = "tixngo_ticket_status_logs"
E2E_SEED = 12
PIPELINEWISE = "target-postgres-pipelinewise"
# The transferwise variant (COPY from CSV files) is measured, not shipped: it is not faithful
# to this tap's data (README "End to end into PostgreSQL": numbers land as double precision,
# a newline in text as the two characters \n, an empty string as NULL, names lower-cased).
# So it is not in meltano.yml, where `meltano install` would install it for every user (and
# its old pins may not build on every Python the project supports): the e2e part adds it to
# a copy of meltano.yml in a project directory of its own (:func:`benchmark_project`).
PIPELINEWISE_PLUGIN: dict[str, Any] = {
    "name": PIPELINEWISE,
    "namespace": "target_postgres_pipelinewise",
    "pip_url": "pipelinewise-target-postgres==2.1.2",
    "executable": "target-postgres",
    "settings": [
        {"name": name, "kind": kind}
        for name, kind in (
            ("host", "string"),
            ("port", "integer"),
            ("user", "string"),
            ("dbname", "string"),
            ("default_target_schema", "string"),
            ("batch_size_rows", "integer"),
            ("flush_all_streams", "boolean"),
            ("parallelism", "integer"),
            ("max_parallelism", "integer"),
            ("add_metadata_columns", "boolean"),
            ("hard_delete", "boolean"),
            ("primary_key_required", "boolean"),
            ("validate_records", "boolean"),
            ("data_flattening_max_level", "integer"),
            ("temp_dir", "string"),
        )
    ]
    + [{"name": "password", "kind": "string", "sensitive": True}],
    "config": {
        "host": "127.0.0.1",
        "port": 5432,
        "user": "postgres",
        "dbname": "postgres",
        "default_target_schema": "ticketlogs",
        "add_metadata_columns": True,
        "primary_key_required": True,
        "validate_records": False,
    },
}
DLT_INSTALL = "python3 -m venv .venv-dlt && .venv-dlt/bin/pip install 'dlt[postgres]'"
# target-postgres columns that stay null until a tap sends ACTIVATE_VERSION (this one does not).
UNUSED_UNTIL_DELETES = ("_sdc_deleted_at", "_sdc_table_version")
# target-postgres as it comes (meltano.yml ships other settings, see LOADER_VARIANTS).
TARGET_DEFAULTS = {
    "TARGET_POSTGRES_USE_COPY": "false",
    "TARGET_POSTGRES_VALIDATE_RECORDS": "true",
    "TARGET_POSTGRES_BATCH_SIZE_ROWS": "10000",  # the SDK's default
}
# Variants of `meltano run tap-ticketlogs LOADER`: name, loader, environment over meltano.yml.
LOADER_VARIANTS: list[tuple[str, str, dict[str, str]]] = [
    ("(a) RECORD, target-postgres defaults", "target-postgres", TARGET_DEFAULTS),
    (
        "(b) RECORD, batch_size_rows 100000 + use_copy",
        "target-postgres",
        {
            **TARGET_DEFAULTS,
            "TARGET_POSTGRES_USE_COPY": "true",
            "TARGET_POSTGRES_BATCH_SIZE_ROWS": "100000",
        },
    ),
    ("(c) RECORD, meltano.yml: validate_records false", "target-postgres", {}),
    # No `load_method: append-only` variant: target-postgres 0.8.1 upserts every stream that
    # has key properties whatever that setting says (its sink: append_only = not keys).
    (
        "(d) as (c), batch_size_rows 50000",
        "target-postgres",
        {"TARGET_POSTGRES_BATCH_SIZE_ROWS": "50000"},
    ),
    # Faster still, but 0.8.1's COPY sends numeric values through float (README).
    ("(e) as (c), use_copy", "target-postgres", {"TARGET_POSTGRES_USE_COPY": "true"}),
    # The transferwise variant (CSV files, COPY, upsert from a temp table); not faithful.
    ("(p) pipelinewise-target-postgres (not shipped)", PIPELINEWISE, {}),
    (
        "(p') as (p), batch_size_rows 20000",
        PIPELINEWISE,
        {"TARGET_POSTGRES_PIPELINEWISE_BATCH_SIZE_ROWS": "20000"},
    ),
]


def tixngo_sandbox(records: int) -> None:
    """The sandbox's TIXNGO API alone (run as `benchmark.py sandbox`): the CLI builds all
    four vendors, which takes minutes at hundreds of thousands of records per stream."""
    sandbox = Sandbox(seed=E2E_SEED, records=records, vendors=("tixngo",))
    print(sandbox.base_url, flush=True)
    sandbox.httpd.serve_forever()


@dataclass
class Loaded:
    """One end-to-end variant: wall seconds, rows in its table, its columns, empty columns."""

    name: str
    seconds: float
    rows: int
    columns: int
    empty_columns: list[str]
    #: CPU (user + system) of the load's processes: tap, Meltano and loader, or dlt's; the
    #: database server's is not in it. Steadier than wall time on a shared machine.
    cpu_seconds: float
    #: What the fidelity probe found wrong (None: not probed; empty: every value exact).
    unfaithful: list[str] | None = None

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def table_figures(dsn: str, schema: str, table: str) -> tuple[int, list[str], list[str]]:
    """Rows of a table, its columns, and the columns without a single non-null value
    (but those of UNUSED_UNTIL_DELETES)."""
    import psycopg  # noqa: PLC0415 - a test dependency, needed by this part only

    with psycopg.connect(dsn, autocommit=True) as connection:
        columns = [
            name
            for (name,) in connection.execute(
                "select column_name from information_schema.columns "
                "where table_schema = %s and table_name = %s order by ordinal_position",
                (schema, table),
            ).fetchall()
        ]
        if not columns:
            return 0, [], []
        counts = ", ".join(f'count("{name}")' for name in columns)
        # Names from information_schema and this script's own schema names, quoted.
        query = f'select count(*), {counts} from "{schema}"."{table}"'  # noqa: S608
        row = connection.execute(query).fetchone()
        assert row is not None
        empty = [
            name
            for name, filled in zip(columns, row[1:], strict=True)
            if filled == 0 and name not in UNUSED_UNTIL_DELETES
        ]
        return int(row[0]), columns, empty


def drop_schema(dsn: str, schema: str) -> None:
    import psycopg  # noqa: PLC0415

    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f'drop schema if exists "{schema}" cascade')


def loader_env(loader: str, sqlalchemy_url: str, schema: str) -> dict[str, str]:
    """The connection settings of ``loader`` for the database of ``sqlalchemy_url``."""
    if loader != PIPELINEWISE:
        return {
            "TARGET_POSTGRES_SQLALCHEMY_URL": sqlalchemy_url,
            "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": schema,
        }
    parts = urlsplit(sqlalchemy_url)
    prefix = "TARGET_POSTGRES_PIPELINEWISE_"
    return {
        prefix + "HOST": parts.hostname or "127.0.0.1",
        prefix + "PORT": str(parts.port or 5432),
        prefix + "USER": parts.username or "postgres",
        # The loader insists on a password; a trust-auth server ignores whatever is sent.
        prefix + "PASSWORD": parts.password or "unused-with-trust-auth",
        prefix + "DBNAME": parts.path.lstrip("/"),
        prefix + "DEFAULT_TARGET_SCHEMA": schema,
    }


def meltano_variant(
    name: str,
    loader: str,
    *,
    url: str,
    sqlalchemy_url: str,
    extra_env: dict[str, str],
    workdir: Path,
) -> Loaded:
    """`meltano run tap-ticketlogs LOADER` into a fresh schema, dropped after; then, but for
    BATCH messages, the fidelity probe through the same loader and settings."""
    schema = f"bench_e2e_{uuid.uuid4().hex[:10]}"
    dsn = sqlalchemy_url.replace("+psycopg", "")
    env = meltano_env(loader, url, sqlalchemy_url, schema, workdir) | extra_env
    command = [str(BIN / "meltano"), "run", "tap-ticketlogs", loader]
    log = workdir / f"e2e-{variant_letter(name)}.log"
    project = benchmark_project(workdir)
    loaded = timed_load(name, command, env=env, dsn=dsn, schema=schema, log=log, cwd=project)
    if "TAP_TICKETLOGS_BATCH_CONFIG" not in extra_env:
        loaded.unfaithful = fidelity_probe(loader, sqlalchemy_url, extra_env, workdir)
    return loaded


def meltano_env(
    loader: str, url: str, sqlalchemy_url: str, schema: str, workdir: Path
) -> dict[str, str]:
    """The environment of `meltano run tap-ticketlogs LOADER` on the TIXNGO sandbox at
    ``url`` into ``schema``, with its own state database."""
    return {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "MELTANO_ENVIRONMENT": "dev",
        "MELTANO_DATABASE_URI": f"sqlite:///{workdir / (schema + '.db')}",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "TAP_TICKETLOGS_START_DATE": START.isoformat(),
        "TAP_TICKETLOGS_END_DATE": (START + dt.timedelta(days=30)).isoformat(),
        "TAP_TICKETLOGS_LAG_MINUTES": "0",
        "TAP_TICKETLOGS_TIXNGO_BASE_URL": url,
        "TAP_TICKETLOGS_TIXNGO_API_KEY": "tixngo-sandbox-key",
        "TAP_TICKETLOGS_TIXNGO_AUTH_SCHEME": "bearer",
        "TAP_TICKETLOGS_TIXNGO_MOBILE_APP_IDS": json.dumps(list(MOBILE_APPS)),
        "TAP_TICKETLOGS_TIXNGO_PAGE_SIZE": str(PAGE_SIZE),
        **loader_env(loader, sqlalchemy_url, schema),
    }


# -- fidelity probe: do the values the tap writes land as they are? ---------------------------

PROBE_STREAM = "fidelity_probe"
PROBE_DECIMAL = "0.1234567890123456789"
PROBE_TEXT = 'two lines\nand a\ttab, a \\ and a "quote"'
PROBE_INSTANT = "2026-01-02T03:04:05.123456Z"
PROBE_STATE = {"bookmarks": {PROBE_STREAM: {"replication_key_value": PROBE_INSTANT}}}
# The tap's SCHEMA: a field it did not know and inferred from its values is `number` even
# when every value is whole (tap_ticketlogs/streams/schema_evolution.py), so large ids are numbers.
PROBE_PROPERTIES: dict[str, Any] = {
    "id": {"type": ["integer"]},
    "bigId": {"type": ["number", "null"]},
    "amount": {"type": ["number", "null"]},
    "at": {"type": ["string", "null"], "format": "date-time"},
    "note": {"type": ["string", "null"]},
    "empty": {"type": ["string", "null"]},
    "detail": {"type": ["object", "null"]},
    "flag": {"type": ["boolean", "null"]},
}


def probe_messages() -> str:
    """Singer messages as the tap writes them: a SCHEMA, records with exact decimals, ids
    past 2**53, text with control characters, an empty string, a nested object; then a
    SCHEMA that adds a field mid-run, a record that has it, a new version of record 1, and
    the STATE the loader must hand back once all of it is stored."""

    def record(record_id: int, **changes: Any) -> dict[str, Any]:  # noqa: ANN401
        values = {
            "id": record_id,
            "bigId": 12345678901234567890123 if record_id != 2 else 2**53 + 1,
            "amount": msgspec.Raw(PROBE_DECIMAL.encode()),
            "at": PROBE_INSTANT,
            "note": PROBE_TEXT,
            "empty": "",
            "detail": {"text": PROBE_TEXT, "amount": msgspec.Raw(PROBE_DECIMAL.encode())},
            "flag": False,
            **changes,
        }
        return {
            "type": "RECORD",
            "stream": PROBE_STREAM,
            "record": values,
            "time_extracted": "2026-01-05T00:00:00+00:00",
        }

    def schema(properties: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "SCHEMA",
            "stream": PROBE_STREAM,
            "schema": {"type": "object", "properties": properties},
            "key_properties": ["id"],
        }

    messages = [
        schema(PROBE_PROPERTIES),
        record(1),
        record(2),
        schema({**PROBE_PROPERTIES, "addedMidRun": {"type": ["number", "null"]}}),
        record(3, addedMidRun=msgspec.Raw(b"2.5")),
        record(1, note="updated"),
        {"type": "STATE", "value": PROBE_STATE},
    ]
    return "".join(msgspec.json.encode(message).decode() + "\n" for message in messages)


def probe_expected() -> dict[int, dict[str, Any]]:
    """What each row must hold, by its id, after the probe's messages (twice)."""
    row = {
        "bigId": decimal.Decimal(12345678901234567890123),
        "amount": decimal.Decimal(PROBE_DECIMAL),
        "at": dt.datetime.fromisoformat(PROBE_INSTANT),
        "note": PROBE_TEXT,
        "empty": "",
        "detail.text": PROBE_TEXT,
        "detail.amount": decimal.Decimal(PROBE_DECIMAL),
        "flag": False,
        "addedMidRun": None,
    }
    return {
        1: {**row, "note": "updated"},
        2: {**row, "bigId": decimal.Decimal(2**53 + 1)},
        3: {**row, "addedMidRun": decimal.Decimal("2.5")},
    }


def fidelity_probe(
    loader: str, sqlalchemy_url: str, extra_env: dict[str, str], workdir: Path
) -> list[str]:
    """Pipe the probe's messages twice through `meltano invoke LOADER` (with ``extra_env``)
    into a fresh schema and list what did not land as written: [] when all of it did."""
    import psycopg  # noqa: PLC0415

    schema = f"bench_probe_{uuid.uuid4().hex[:10]}"
    dsn = sqlalchemy_url.replace("+psycopg", "")
    env = meltano_env(loader, "http://unused.invalid", sqlalchemy_url, schema, workdir)
    env |= extra_env
    messages = probe_messages()
    wrong: list[str] = []
    try:
        for _ in range(2):  # the second time adds nothing: an upsert on the key
            result = subprocess.run(  # noqa: S603
                [str(BIN / "meltano"), "invoke", loader],
                input=messages,
                cwd=benchmark_project(workdir),
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                return [f"failed: {result.stderr.strip().splitlines()[-1]}"]
        states = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
        if not states or states[-1] != PROBE_STATE:
            wrong.append(f"state {states[-1:] or 'none'}")
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute("set timezone = 'UTC'")
            wrong += probe_findings(connection, schema)
    finally:
        drop_schema(dsn, schema)
    return wrong


def probe_findings(connection: Any, schema: str) -> list[str]:  # noqa: ANN401 - psycopg's
    """What the probe's table holds that differs from probe_expected()."""
    types = dict(
        connection.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = %s and table_name = %s",
            (schema, PROBE_STREAM),
        ).fetchall()
    )
    wrong: list[str] = []
    names = {}
    for name in ("id", *PROBE_PROPERTIES, "addedMidRun"):
        found = name if name in types else name.lower()
        if found not in types:
            wrong.append(f"no column {name}")
            continue
        if found != name:
            wrong.append(f"{name} in column {found}")
        names[name] = found
    if types.get(names.get("at", ""), "").startswith("timestamp") is False:
        wrong.append(f"at as {types.get(names.get('at', ''))}")
    if wrong and any(message.startswith("no column") for message in wrong):
        return wrong
    # Text casts: what PostgreSQL holds, not what a client's JSON or float parsing makes of it.
    columns = ", ".join(
        f'"{names[name]}"::text'
        for name in ("id", "bigId", "amount", "at", "note", "empty", "flag", "addedMidRun")
    )
    nested = f"\"{names['detail']}\"->>'text', \"{names['detail']}\"->>'amount'"
    rows = connection.execute(
        f'select {columns}, {nested} from "{schema}"."{PROBE_STREAM}"'  # noqa: S608
    ).fetchall()
    expected = probe_expected()
    if sorted(int(row[0]) for row in rows) != sorted(expected):
        wrong.append(f"rows {sorted(int(row[0]) for row in rows)}")
    for row in rows:
        big, amount, at, note, empty, flag, added, text, nested_amount = row[1:]
        want = expected.get(int(row[0]))
        if want is None:
            continue
        got = {
            "bigId": decimal.Decimal(big),
            "amount": decimal.Decimal(amount),
            "at": dt.datetime.fromisoformat(at).replace(tzinfo=dt.timezone.utc),
            "note": note,
            "empty": empty,
            "detail.text": text,
            "detail.amount": decimal.Decimal(nested_amount),
            "flag": {"false": False, "true": True}.get(flag, flag),
            "addedMidRun": None if added is None else decimal.Decimal(added),
        }
        for name, value in want.items():
            shown = f"{name} {got[name]}" if got[name] != value else None
            if isinstance(got[name], str):
                shown = f"{name} {got[name]!r}" if got[name] != value else None
            if shown is not None and shown not in wrong:
                wrong.append(shown)
    return wrong


def benchmark_project(workdir: Path) -> Path:
    """This repository's meltano.yml plus the measured-only loaders, in a project directory
    of its own that shares the repository's installed plugins (``.meltano``); the loaders
    meltano.yml does not ship are installed there once."""
    import yaml  # noqa: PLC0415 - Meltano's dependency, needed by this part only

    project = workdir / "meltano-project"
    project.mkdir(exist_ok=True)
    definition = yaml.safe_load((ROOT / "meltano.yml").read_text())
    definition["plugins"]["loaders"].append(PIPELINEWISE_PLUGIN)
    (project / "meltano.yml").write_text(yaml.safe_dump(definition, sort_keys=False))
    if not (project / ".meltano").exists():
        (project / ".meltano").symlink_to(ROOT / ".meltano", target_is_directory=True)
    if not (ROOT / ".meltano" / "loaders" / PIPELINEWISE).is_dir():
        print(f"e2e: installing {PIPELINEWISE} (once, into .meltano/) ...", flush=True)
        subprocess.run(  # noqa: S603
            [str(BIN / "meltano"), "install", "loader", PIPELINEWISE],
            cwd=project,
            env={**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"},
            check=True,
        )
    return project


def timed_load(
    name: str,
    command: list[str],
    *,
    env: Mapping[str, str],
    dsn: str,
    schema: str,
    log: Path,
    cwd: Path = ROOT,
) -> Loaded:
    """Run one load into ``schema`` (its output to ``log``), time it, count what landed in
    the database, and drop the schema."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    try:
        with open(log, "w") as out:
            status = subprocess.run(  # noqa: S603
                command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, check=False
            ).returncode
        seconds = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        if status != 0:
            sys.exit(f"e2e {name}: failed, see {log}:\n{log.read_text()[-2000:]}")
        rows, columns, empty = table_figures(dsn, schema, E2E_STREAM)
    finally:
        drop_schema(dsn, schema)
    return Loaded(name, seconds, rows, len(columns), empty, cpu)


DLT_PIPELINE = textwrap.dedent(
    """
    import json, sys
    import dlt
    from dlt.destinations.impl.postgres.configuration import PostgresCredentials
    from dlt.sources.rest_api import rest_api_source

    url, start, end, dsn, schema, workdir, stream = sys.argv[1:8]
    apps, write_disposition = json.loads(sys.argv[8]), sys.argv[9]
    credentials = PostgresCredentials()
    credentials.parse_native_representation(dsn)
    # dlt insists on a password; a trust-auth server ignores whatever is sent.
    credentials.password = credentials.password or "unused-with-trust-auth"

    def with_app(app):
        def add(record):
            record["mobile_app_id"] = app
            return record
        return add

    source = rest_api_source({
        "client": {
            "base_url": url,
            "auth": {"type": "bearer", "token": "tixngo-sandbox-key"},
            "paginator": {
                "type": "cursor",
                "cursor_path": "pagination.nextPageKey",
                "cursor_param": "paginationKey",
            },
        },
        "resources": [
            {
                "name": f"{stream}_{index}",
                "table_name": stream,
                "endpoint": {
                    "path": "/organizer/report/ticket-status-logs",
                    "data_selector": "result",
                    "params": {"mobileAppId": app, "from": start, "to": end, "limit": 10000},
                },
                "processing_steps": [{"map": with_app(app)}],
                "write_disposition": write_disposition,
                "primary_key": "ticketId",  # unique per entry in the sandbox
            }
            for index, app in enumerate(apps)
        ],
    })
    pipeline = dlt.pipeline(
        pipeline_name=schema,
        pipelines_dir=workdir,
        destination=dlt.destinations.postgres(credentials=credentials),
        dataset_name=schema,
        progress="log",
    )
    pipeline.run(source)
    """
)


def dlt_variant(
    name: str,
    write_disposition: str,
    *,
    url: str,
    sqlalchemy_url: str,
    dlt_python: Path,
    workdir: Path,
) -> Loaded | None:
    """dlt's `rest_api` source on the same sandbox into the same database, or None (with
    how to install it) when ``dlt_python`` has no dlt."""
    found = dlt_python.exists() and (
        subprocess.run(  # noqa: S603
            [str(dlt_python), "-c", "import dlt, psycopg2"], capture_output=True, check=False
        ).returncode
        == 0
    )
    if not found:
        print(
            f"{name}: skipped, no dlt[postgres] at {dlt_python}; install it apart from the "
            f"project with `{DLT_INSTALL}` (or pass --dlt-python)"
        )
        return None
    schema = f"bench_e2e_dlt_{uuid.uuid4().hex[:10]}"
    dsn = sqlalchemy_url.replace("+psycopg", "")
    command = [
        str(dlt_python),
        "-c",
        DLT_PIPELINE,
        url,
        START.isoformat(),
        (START + dt.timedelta(days=30)).isoformat(),
        dsn,
        schema,
        str(workdir / "dlt"),
        E2E_STREAM,
        json.dumps(list(MOBILE_APPS)),
        write_disposition,
    ]
    env = {**os.environ, "RUNTIME__DLTHUB_TELEMETRY": "false"}
    log = workdir / f"e2e-dlt-{write_disposition}.log"
    return timed_load(name, command, env=env, dsn=dsn, schema=schema, log=log)


def variant_letter(name: str) -> str:
    """``c'`` for ``(c') as (c), ...``."""
    return name[1 : name.index(")")]


def end_to_end(
    records: int,
    sqlalchemy_url: str,
    dlt_python: Path,
    workdir: Path,
    only: set[str] | None = None,
) -> None:
    """Sandbox -> PostgreSQL per variant (those lettered in ``only``, or all), rows counted
    in the database."""
    if not (ROOT / ".meltano" / "loaders" / "target-postgres").is_dir():
        sys.exit("e2e: target-postgres is not installed; run `meltano install` first")
    benchmark_project(workdir)  # and the measured-only loaders
    batch_config = {
        "encoding": {"format": "jsonl", "compression": "gzip"},
        "storage": {"root": f"file://{workdir / 'batches'}", "prefix": "e2e-"},
    }
    (workdir / "batches").mkdir(exist_ok=True)
    variants = [
        *LOADER_VARIANTS,
        (
            "(f) BATCH jsonl.gz files, meltano.yml",
            "target-postgres",
            {"TAP_TICKETLOGS_BATCH_CONFIG": json.dumps(batch_config)},
        ),
    ]
    variants = [run for run in variants if only is None or variant_letter(run[0]) in only]
    results: list[Loaded] = []
    with Child([sys.executable, __file__, "sandbox", "--records", str(records)]) as server:
        with urllib.request.urlopen(f"{server.url}/_sandbox/stats") as response:  # noqa: S310
            truth: int = json.load(response)["records"][E2E_STREAM]
        for name, loader, extra_env in variants:
            results.append(
                meltano_variant(
                    name,
                    loader,
                    url=server.url,
                    sqlalchemy_url=sqlalchemy_url,
                    extra_env=extra_env,
                    workdir=workdir,
                )
            )
        # (h): like for like with meltano.yml's upsert, dlt merging on the entries' key.
        dlt, dlt_merge = (
            None
            if only is not None and variant_letter(name) not in only
            else dlt_variant(
                name,
                disposition,
                url=server.url,
                sqlalchemy_url=sqlalchemy_url,
                dlt_python=dlt_python,
                workdir=workdir,
            )
            for name, disposition in (
                ("(g) dlt rest_api -> postgres (append)", "append"),
                ("(h) dlt rest_api, merge on ticketId", "merge"),
            )
        )
    results += [run for run in (dlt, dlt_merge) if run is not None]
    print(
        f"\ne2e: {truth} TIXNGO entries (sandbox, 3 apps, 30 days, pages of {PAGE_SIZE}) into "
        f"PostgreSQL, one fresh schema per variant; `meltano run` with the tap's defaults "
        f"(24 h windows, max_concurrency 8) and meltano.yml's load_method upsert"
    )
    print(
        f"{'variant':<52}{'rows':>8}{'of sandbox':>11}{'s':>8}{'rows/s':>9}{'x dlt':>7}"
        f"{'cpu s':>7}{'us/row':>8}{'columns':>9}  empty columns"
    )
    for run in results:
        ratio = f"{run.rows_per_s / dlt.rows_per_s:.2f}" if dlt else "-"
        empty = ",".join(run.empty_columns) or "-"
        print(
            f"{run.name:<52}{run.rows:>8}{run.rows / truth:>11.0%}{run.seconds:>8.1f}"
            f"{run.rows_per_s:>9.0f}{ratio:>7}{run.cpu_seconds:>7.1f}"
            f"{run.cpu_seconds / max(run.rows, 1) * 1e6:>8.0f}{run.columns:>9}  {empty}"
        )
    print(
        "\nfidelity probe (`meltano invoke LOADER`, twice: exact decimals, ids past 2**53, "
        "text with control characters, an empty string, a nested object, a field added "
        "mid-run, upsert, STATE handed back); cpu s: tap + Meltano + loader, or dlt, "
        "without PostgreSQL's"
    )
    for run in results:
        if run.unfaithful is not None:
            print(f"{run.name:<52}{'; '.join(run.unfaithful) or 'every value as written'}")


if __name__ == "__main__":
    main()
