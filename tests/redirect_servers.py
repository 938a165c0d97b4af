"""Two loopback servers for redirect tests: a front that redirects, and a host that records.

``Front`` (on 127.0.0.1) forwards requests to the sandbox, except those its ``redirect``
predicate picks: these are answered with a 3xx whose ``Location`` points at another host
(``Recorder``, on 127.0.0.2) or back at the front itself under ``/moved`` (a same-host
redirect, forwarded to the sandbox once it arrives there).
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import SplitResult, urlsplit

SAME_HOST_PREFIX = "/moved"


@dataclass
class Received:
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes

    def raw(self) -> bytes:
        """Everything the request carried, as bytes, to search for a secret."""
        lines = [f"{self.method} {self.path}", *(f"{k}: {v}" for k, v in self.headers)]
        return "\n".join(lines).encode() + b"\n\n" + self.body


class LoopbackServer:
    def __init__(self, host: str) -> None:
        self.httpd = ThreadingHTTPServer((host, 0), self._handler_class())
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> Any:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def answer(self, request: Received) -> tuple[int, list[tuple[str, str]], bytes]:
        raise NotImplementedError

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                received = Received(self.command, self.path, list(self.headers.items()), body)
                status, headers, payload = server.answer(received)
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = _serve  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler


class Recorder(LoopbackServer):
    """The other host: keeps every request it receives, answers an empty JSON object."""

    def __init__(self, host: str = "127.0.0.2") -> None:
        super().__init__(host)
        self.received: list[Received] = []

    def answer(self, request: Received) -> tuple[int, list[tuple[str, str]], bytes]:
        self.received.append(request)
        return 200, [("Content-Type", "application/json")], b"{}"

    def secrets_seen(self, secrets: list[str]) -> list[str]:
        """Which of ``secrets`` appear anywhere in what this host received."""
        everything = b"\n".join(request.raw() for request in self.received)
        return [secret for secret in secrets if secret and secret.encode() in everything]


class Front(LoopbackServer):
    """Forwards to ``upstream``; answers the requests ``redirect`` picks with ``status``."""

    def __init__(
        self,
        upstream: str,
        *,
        redirect: Callable[[Received], bool],
        status: int,
        target: str | None,
    ) -> None:
        """``target`` is the other host's base URL; None redirects to this same host."""
        super().__init__("127.0.0.1")
        self.upstream = urlsplit(upstream)
        self.redirect = redirect
        self.status = status
        self.target = target
        self.redirected = 0
        self.hops_received: list[Received] = []

    def answer(self, request: Received) -> tuple[int, list[tuple[str, str]], bytes]:
        if request.path.startswith(SAME_HOST_PREFIX):
            self.hops_received.append(request)
            request.path = request.path.removeprefix(SAME_HOST_PREFIX)
            return forward(self.upstream, request)
        if self.redirect(request):
            self.redirected += 1
            base = self.target if self.target is not None else SAME_HOST_PREFIX
            return self.status, [("Location", base + request.path)], b""
        return forward(self.upstream, request)


def forward(upstream: SplitResult, request: Received) -> tuple[int, list[tuple[str, str]], bytes]:
    """Send ``request`` on to the server at ``upstream``; return its status, headers, body."""
    connection = http.client.HTTPConnection(upstream.hostname or "", upstream.port, timeout=30)
    try:
        headers = {k: v for k, v in request.headers if k.lower() != "host"}
        connection.request(request.method, request.path, request.body or None, headers)
        response = connection.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        connection.close()
