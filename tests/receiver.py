"""A local HTTP server that records webhook deliveries; it can be told to fail first, to answer
slowly, and it counts how many requests it holds at once."""

from __future__ import annotations

import threading
import time

from tests import loopback
from tests.loopback import QuietHandler


class Receiver:
    """A local HTTP server that records webhook deliveries; it can be told to fail first."""

    def __init__(self, fail_first: int = 0, delay: float = 0.0, host: str = "127.0.0.1") -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.arrivals: list[float] = []  # time.monotonic() of each request
        self.fail_first = fail_first
        self.delay = delay
        self.open = 0
        self.most_open = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver._lock:
                    receiver.requests.append((dict(self.headers), body))
                    receiver.arrivals.append(time.monotonic())
                    count = len(receiver.requests)
                    receiver.open += 1
                    receiver.most_open = max(receiver.most_open, receiver.open)
                try:
                    if receiver.delay:
                        time.sleep(receiver.delay)
                    status = 500 if count <= receiver.fail_first else 204
                    self.send_response(status)
                    self.end_headers()
                finally:
                    with receiver._lock:
                        receiver.open -= 1

        self.server = loopback.serve(Handler, host)
        self.url = f"http://{host}:{self.server.server_port}/hook"

    def wait_for(self, count: int, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return len(self.requests) >= count

    def close(self) -> None:
        loopback.close(self.server)
