"""How the tap's session reads response bodies: in one read, with requests' own errors.

requests reads a body it was not asked to stream 10 KiB at a time; the tap's session reads
it as it arrives (``http_session.CredentialSafeSession.send``). What a caller sees must not
change: the same bytes (compressed bodies decoded), the same exception for a cut body, the
connection back in the pool.
"""

from __future__ import annotations

import gzip
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
import requests
import urllib3
from pytest_httpserver import HTTPServer
from werkzeug import Response

from tap_ticketlogs.http.session import CredentialSafeSession

# A page like TIXNGO's largest: 10 000 entries, ~2.6 MB of JSON.
PAGE = {"result": [{"ticketId": f"TKT-{index:09d}", "note": "x" * 200} for index in range(10_000)]}


@pytest.fixture
def body_reads(monkeypatch: pytest.MonkeyPatch) -> list[int | None]:
    """The ``amt`` of every read of a response body through urllib3."""
    reads: list[int | None] = []
    original = urllib3.response.HTTPResponse.read

    def recording(self: urllib3.response.HTTPResponse, amt: int | None = None, **kw: Any) -> Any:
        reads.append(amt)
        return original(self, amt, **kw)

    monkeypatch.setattr(urllib3.response.HTTPResponse, "read", recording)
    return reads


def test_a_large_compressed_body_arrives_whole_in_one_read(
    httpserver: HTTPServer, body_reads: list[int | None]
) -> None:
    raw = json.dumps(PAGE).encode()
    httpserver.expect_request("/page").respond_with_response(
        Response(gzip.compress(raw), headers={"Content-Encoding": "gzip"}, mimetype="text/json")
    )
    with CredentialSafeSession() as session:
        response = session.get(httpserver.url_for("/page"), timeout=10)
    assert response.content == raw
    assert response.json() == PAGE
    # One read of the whole body (and the end-of-body read), not one per 10 KiB.
    assert body_reads[0] is None
    assert len(body_reads) <= 2, body_reads
    # What plain requests does, for the record: hundreds of reads for the same body.
    body_reads.clear()
    with requests.Session() as plain:
        assert plain.get(httpserver.url_for("/page"), timeout=10).content == raw
    assert len(body_reads) > 100


class _KeepAliveHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    body = json.dumps(PAGE).encode()
    client_ports: ClassVar[list[int]] = []

    def do_GET(self) -> None:
        self.client_ports.append(self.client_address[1])
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: Any) -> None:  # quiet
        return


def test_the_connection_goes_back_to_the_pool() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _KeepAliveHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/page"
        with CredentialSafeSession() as session:
            for _ in range(3):
                assert session.get(url, timeout=10).json() == PAGE
    finally:
        server.shutdown()
        server.server_close()
    # Three requests over one connection: each body was read to its end and released.
    assert len(_KeepAliveHandler.client_ports) == 3
    assert len(set(_KeepAliveHandler.client_ports)) == 1


@pytest.fixture
def cut_body_url() -> Iterator[str]:
    """A server that promises a megabyte and hangs up after 100 bytes."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with connection:
                connection.recv(65536)
                connection.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 1000000\r\n\r\n" + b'{"result": [' + b" " * 88
                )

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/page"
    finally:
        stop.set()
        thread.join()
        listener.close()


def test_a_cut_body_raises_what_requests_raises(cut_body_url: str) -> None:
    with requests.Session() as plain, pytest.raises(requests.RequestException) as expected:
        plain.get(cut_body_url, timeout=5)
    with CredentialSafeSession() as session, pytest.raises(requests.RequestException) as raised:
        session.get(cut_body_url, timeout=5)
    assert type(raised.value) is type(expected.value)
    assert isinstance(raised.value, requests.exceptions.ChunkedEncodingError)
