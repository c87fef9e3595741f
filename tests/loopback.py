"""The tests' fake services on loopback: a handler class served from a daemon thread, closed the
one way, and a handler base that logs nothing and writes JSON answers."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that keeps the access log out of the test's output."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def send_json(
        self,
        status: int,
        payload: Any,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        """`payload` as JSON (bytes as they are), with its length and any extra headers."""
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def serve(
    handler: type[BaseHTTPRequestHandler], host: str = "127.0.0.1", port: int = 0
) -> ThreadingHTTPServer:
    """`handler` on host:port (0: a free port) from a daemon thread, each request in a daemon
    thread of its own (ThreadingHTTPServer's default), so a hung client never blocks the run."""
    server = ThreadingHTTPServer((host, port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def close(server: ThreadingHTTPServer | None) -> None:
    """Stop serving and free the port; nothing to do for a server that never started."""
    if server is not None:
        server.shutdown()
        server.server_close()
