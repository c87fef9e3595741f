"""Slow and greedy clients cannot hold the server (issue #13 item 10): headers must arrive in
time, a body must keep moving, one address may hold only so many connections, and a client that
goes away mid-upload is a log line, not an "Exception in ASGI application"."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.server import Server, make_server

pytestmark = pytest.mark.slow  # waits out real timeouts on real sockets

HEADER_TIMEOUT = 1.0
PER_CLIENT = 6


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = make_server(
        tmp_path_factory.mktemp("slow"),
        header_timeout_seconds=str(HEADER_TIMEOUT),
        body_idle_timeout_seconds="1",
        connections_per_client=str(PER_CLIENT),
        default_plan="unlimited",
        log_level="INFO",
    )
    srv.create_key("alice", "alice")
    srv.start(workers=0)
    yield srv
    srv.stop()


def connect(server: Server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    return sock


def closed_within(sock: socket.socket, seconds: float) -> float:
    """Seconds until the server closed the connection (recv answers b"" or a reset)."""
    started = time.monotonic()
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
    except (ConnectionResetError, BrokenPipeError):
        pass
    except TimeoutError:
        raise AssertionError(f"still open after {seconds} s") from None
    return time.monotonic() - started


def test_headers_sent_a_byte_at_a_time_are_cut_off(server: Server) -> None:
    sock = connect(server)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
    started = time.monotonic()
    sock.settimeout(0.3)
    try:
        for byte in b"X-Slow: " + b"a" * 100:
            sock.sendall(bytes([byte]))
            time.sleep(0.1)
    except (BrokenPipeError, ConnectionResetError):
        pass
    assert time.monotonic() - started < HEADER_TIMEOUT + 3
    sock.close()


def test_a_connection_that_sends_nothing_is_closed(server: Server) -> None:
    with connect(server) as sock:
        assert closed_within(sock, HEADER_TIMEOUT + 3) >= HEADER_TIMEOUT * 0.5


def test_a_stalled_body_is_closed_but_a_slow_moving_one_is_not(server: Server) -> None:
    head = (
        b"POST /upload/presigned/nothing HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: image/jpeg\r\nContent-Length: 1000\r\n\r\n"
    )
    with connect(server) as sock:
        sock.sendall(head + b"\xff" * 10)
        closed_within(sock, 5)
    with connect(server) as sock:  # a trickle every 0.4 s for 2.4 s: slower than the headers'
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\n")
        for byte in b"abcdef":
            time.sleep(0.4)
            sock.sendall(bytes([byte]))
        sock.settimeout(5)
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")


def test_one_client_holds_only_so_many_connections(server: Server) -> None:
    time.sleep(0.5)  # the server has seen the earlier tests' connections close
    held = [connect(server) for _ in range(PER_CLIENT)]
    time.sleep(0.2)
    try:
        with connect(server) as extra:
            assert closed_within(extra, 1.0) < 0.5
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.3)
    assert httpx.get(f"{server.url}/health", timeout=5).status_code == 200


def test_a_client_leaving_mid_upload_is_not_an_application_error(server: Server) -> None:
    with connect(server) as sock:
        sock.sendall(
            b"POST /upload HTTP/1.1\r\nHost: x\r\nX-API-Key: "
            + server.keys["alice"].encode()
            + b"\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
            + b'{"data": "'
            + b"A" * 5000
        )
        time.sleep(0.3)
    time.sleep(1.0)
    log = (server.home / "server.log").read_text()
    assert "Exception in ASGI application" not in log
    assert httpx.get(f"{server.url}/health", timeout=5).status_code == 200
