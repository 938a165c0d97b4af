"""The sandbox HTTP server and its command line, ``tap-ticketlogs-sandbox``."""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import importlib.util
import inspect
import json
import socket
import struct
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from typing_extensions import override

from tap_ticketlogs.sandbox.core import (
    FIELD_STYLES,
    PARTITION_LENGTHS,
    Request,
    Response,
    VendorAPI,
)
from tap_ticketlogs.sandbox.faults import FAULT_SPEC_HELP, FaultInjector, FaultPlan, request_key
from tap_ticketlogs.sources.registry import SOURCES


def vendor_factories() -> dict[str, Callable[..., VendorAPI]]:
    """Every registered source's simulator: its ``create_api(seed, records)``."""
    return {
        source.name: importlib.import_module(source.sandbox_module).create_api
        for source in SOURCES
        if source.sandbox_module is not None
    }


def build_api(
    factory: Callable[..., VendorAPI], seed: int, records: int, partition_lengths: str
) -> VendorAPI:
    """A simulator whose ``create_api`` takes ``partition_lengths`` has child partitions
    (tickets, cases) and gets the shape; the others are the same data whatever it is."""
    if partition_lengths not in PARTITION_LENGTHS:
        msg = f"unknown partition lengths {partition_lengths!r}; choose one of " + ", ".join(
            PARTITION_LENGTHS
        )
        raise ValueError(msg)
    if "partition_lengths" in inspect.signature(factory).parameters:
        return factory(seed, records, partition_lengths=partition_lengths)
    return factory(seed, records)


DEFAULT_RECORDS = 2_000
REQUEST_LOG_SIZE = 200_000


class Sandbox:
    """The simulated APIs behind one loopback HTTP server; usable as a context manager."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 42,
        records: int = DEFAULT_RECORDS,
        latency_ms: float = 0.0,
        faults: str = "none",
        vendors: tuple[str, ...] | None = None,
        apis: dict[str, VendorAPI] | None = None,
        field_style: str = "documented",
        partition_lengths: str = PARTITION_LENGTHS[0],
        keep_served: bool = False,
    ) -> None:
        """Serve every vendor (or those named in ``vendors``); ``apis`` replaces some by
        simulators built by the caller (tests that need a variant). ``field_style``: see
        ``FIELD_STYLES``; ``partition_lengths``: see ``PARTITION_LENGTHS``; ``keep_served``:
        remember every record served (``served``)."""
        self.vendors: dict[str, VendorAPI] = {
            name: build_api(factory, seed, records, partition_lengths)
            for name, factory in vendor_factories().items()
            if (vendors is None or name in vendors) and name not in (apis or {})
        }
        self.vendors.update(apis or {})
        for vendor in self.vendors.values():
            vendor.set_field_style(field_style)
            if keep_served:
                vendor.served = {}
        self.routes = [route for vendor in self.vendors.values() for route in vendor.routes()]
        self.latency_s = latency_ms / 1000
        self.faults = FaultInjector(faults, seed)
        if self.faults.plan.expire_after is not None:
            for vendor in self.vendors.values():
                vendor.expire_credentials_after(self.faults.plan.expire_after)
        self._lock = threading.Lock()
        self.requests: Counter[tuple[str, int]] = Counter()
        # One entry per API request, in arrival order (GET /_sandbox/requests): arrival time
        # (`at`, epoch seconds), when its answer was ready (`end`: latency and faults
        # included), route, request key, status and fault, so clients can check rates,
        # ordering, retries and how many requests were in flight at once. The latest
        # REQUEST_LOG_SIZE only: a long demo stays small.
        self.request_log: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_SIZE)
        self.httpd = _QuietServer((host, port), _handler_class(self))
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        host_text = host.decode() if isinstance(host, bytes) else host
        return f"http://{host_text}:{port}"

    def start(self) -> Sandbox:
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def tap_config(self) -> dict[str, Any]:
        """A ready tap config whose sections point at this sandbox."""
        start = min(vendor.start for vendor in self.vendors.values())
        until = max(vendor.until for vendor in self.vendors.values())
        config: dict[str, Any] = {
            "start_date": _rfc3339(start),
            "end_date": _rfc3339(until),
            "lag_minutes": 0,
        }
        for name, vendor in self.vendors.items():
            config[name] = vendor.config_section(self.base_url)
        return config

    def append(self, count: int) -> None:
        """Every vendor adds ``count`` newer records (see ``VendorAPI.append``)."""
        for vendor in self.vendors.values():
            vendor.append(count)

    def stats(self) -> dict[str, Any]:
        records: dict[str, int] = {}
        for vendor in self.vendors.values():
            records.update(vendor.record_counts())
        requests: dict[str, dict[str, int]] = {}
        with self._lock:
            for (label, status), count in sorted(self.requests.items()):
                requests.setdefault(label, {})[str(status)] = count
        return {
            "records": records,
            "requests": requests,
            "config": self.tap_config(),
        }

    def served(self) -> dict[str, list[dict[str, Any]]]:
        """Every record served, by tap stream, as sent (needs ``keep_served``)."""
        served: dict[str, list[dict[str, Any]]] = {}
        for vendor in self.vendors.values():
            served.update(vendor.served or {})
        return served

    def handle(self, request: Request) -> Response:
        if request.path == "/_sandbox/stats" and request.method == "GET":
            return Response.json(200, self.stats())
        if request.path == "/_sandbox/requests" and request.method == "GET":
            with self._lock:
                return Response.json(200, {"requests": list(self.request_log)})
        if request.path == "/_sandbox/append" and request.method == "POST":
            # The sandbox's clock is its data's: new records are dated its next day, not
            # today, so a run sees them when its end_date reaches the new "until".
            before = self.tap_config()["end_date"]
            self.append(int(request.param("count") or 100))
            appended = {"dated_from": before, "dated_until": self.tap_config()["end_date"]}
            return Response.json(200, {**self.stats(), "appended": appended})
        for route in self.routes:
            params = route.match(request)
            if params is None:
                continue
            request.path_params = params
            entry: dict[str, Any] = {"at": time.time(), "route": route.label}
            if self.latency_s:
                time.sleep(self.latency_s)
            with self._lock:
                fault = self.faults.fault(request)
                entry.update(key=request_key(request), status=None, fault=fault and fault.kind)
                self.request_log.append(entry)
            if fault is not None and fault.delay_s:
                time.sleep(fault.delay_s)
            response = fault.response if fault is not None else route.handler(request)
            with self._lock:
                self.requests[(route.label, response.status)] += 1
                entry.update(status=response.status, end=time.time())
            return response
        return Response.json(404, {"message": f"no route for {request.method} {request.path}"})


@dataclass(frozen=True)
class Occupancy:
    """How many requests were in flight, by the sandbox's own clock (its request log)."""

    #: From the first request's arrival to the last answer, seconds.
    span_s: float
    #: Mean requests in flight over the span.
    mean_in_flight: float
    #: Share of the span with at least ``concurrency`` requests in flight.
    share_full: float

    @classmethod
    def of(cls, entries: list[dict[str, Any]], concurrency: int) -> Occupancy:
        """Over the answered ``entries`` of the request log (``at`` to ``end``)."""
        answered = [(entry["at"], entry["end"]) for entry in entries if "end" in entry]
        if not answered:
            return cls(0.0, 0.0, 0.0)
        first = min(start for start, _ in answered)
        span = max(end for _, end in answered) - first
        if span <= 0:
            return cls(0.0, 0.0, 0.0)
        # Sweep the arrivals (+1) and answers (-1) in time order.
        events = sorted([(start, 1) for start, _ in answered] + [(end, -1) for _, end in answered])
        in_flight, full, since = 0, 0.0, first
        for moment, change in events:
            if in_flight >= concurrency:
                full += moment - since
            in_flight, since = in_flight + change, moment
        busy = sum(end - start for start, end in answered)
        return cls(span, busy / span, full / span)


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up mid-answer (a tap stopping after an error) is not news."""

    # The default backlog of 5 drops the SYNs of a burst of new connections (16 threads
    # opening theirs at once): the client retransmits after a second, a stall no real API
    # server shows.
    request_queue_size = 128

    @override
    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


# SO_LINGER on, zero seconds: closing the socket sends a TCP reset.
_LINGER_RESET = struct.pack("ii", 1, 0)


def _rfc3339(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _handler_class(sandbox: Sandbox) -> type[BaseHTTPRequestHandler]:
    class SandboxHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out as separate writes

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = Request.from_raw(self.command, self.path, dict(self.headers.items()), body)
            try:
                response = sandbox.handle(request)
            except Exception as exc:  # noqa: BLE001 - a simulator bug must still answer
                response = Response.json(500, {"message": f"sandbox error: {exc}"})
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if response.reset_after is not None:
                self._reset_after(response.body[: response.reset_after])
            elif response.body and self.command != "HEAD":
                self.wfile.write(response.body)

        def _reset_after(self, partial_body: bytes) -> None:
            """Send part of the body, then reset the connection (RST, not a clean close)."""
            self.wfile.write(partial_body)
            self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
            self.close_connection = True

        do_GET = _serve  # noqa: N815 - http.server's naming
        do_POST = _serve  # noqa: N815

        @override
        def log_message(self, format: str, *args: Any) -> None:
            return  # quiet: /_sandbox/stats counts requests

    return SandboxHandler


def _fault_spec(spec: str) -> str:
    try:
        FaultPlan.parse(spec)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return spec


def main(argv: list[str] | None = None) -> None:
    """Serve the simulated APIs until interrupted."""
    parser = argparse.ArgumentParser(
        prog="tap-ticketlogs-sandbox",
        description="Local simulator of the TIXNGO, Akana, Socialboards and Huawei Cloud APIs.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--records", type=int, default=DEFAULT_RECORDS, help="records per stream")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay per API request")
    parser.add_argument("--faults", type=_fault_spec, default="none", help=FAULT_SPEC_HELP)
    parser.add_argument(
        "--field-style",
        choices=FIELD_STYLES,
        default="documented",
        help="extended: fields the tap does not declare, and one that appears mid-data",
    )
    parser.add_argument(
        "--partition-lengths",
        choices=PARTITION_LENGTHS,
        default=PARTITION_LENGTHS[0],
        help="log entries per ticket and case: even, or skewed (most one page, a few many)",
    )
    parser.add_argument("--write-config", type=Path, help="write a ready tap config here")
    args = parser.parse_args(argv)
    sandbox = Sandbox(
        host=args.host,
        port=args.port,
        seed=args.seed,
        records=args.records,
        latency_ms=args.latency_ms,
        faults=args.faults,
        field_style=args.field_style,
        partition_lengths=args.partition_lengths,
    )
    if args.write_config:
        args.write_config.write_text(json.dumps(sandbox.tap_config(), indent=2) + "\n")
    print(sandbox.base_url, flush=True)  # noqa: T201 - the documented output
    try:
        sandbox.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.httpd.server_close()
    sys.exit(0)
