"""How `darkroom serve` runs uvicorn: with the limits a public server needs.

uvicorn closes idle keep-alive connections, but a client that sends its headers one byte at a
time (slowloris), or stops halfway through a body, holds a connection forever, and one client
may open as many as it likes. The protocol below adds, per connection:

- a header deadline: a request's headers must arrive within `header_timeout` of its first byte
  (or of the connection, when nothing comes at all);
- a body idle timeout: a body that is being read must not stall longer than `body_idle_timeout`
  (a slow but moving upload is fine; the server pausing reads does not count);
- a cap on open connections per client address (0: none; raise it behind a reverse proxy, where
  every client has the proxy's address)."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from darkroom.settings import Settings

log = logging.getLogger("darkroom.api")

TICK_SECONDS = 1.0


def guarded_protocol(
    header_timeout: float, body_idle_timeout: float, per_client: int
) -> type[H11Protocol]:
    open_by_client: Counter[str] = Counter()

    class GuardedH11Protocol(H11Protocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._peer = self.client[0] if self.client else "?"
            self._counted = False
            now = self.loop.time()
            self._waiting_since: float | None = now
            self._last_data = now
            self._watchdog: asyncio.TimerHandle | None = None
            if per_client and open_by_client[self._peer] >= per_client:
                log.warning(
                    "refused a connection: too many open from one client",
                    extra={"client": self._peer, "open": open_by_client[self._peer]},
                )
                transport.close()
                return
            open_by_client[self._peer] += 1
            self._counted = True
            self._watchdog = self.loop.call_later(TICK_SECONDS, self._check)

        def connection_lost(self, exc: Exception | None) -> None:
            if self._counted:
                open_by_client[self._peer] -= 1
                if open_by_client[self._peer] <= 0:
                    del open_by_client[self._peer]
                self._counted = False
            if self._watchdog is not None:
                self._watchdog.cancel()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            now = self.loop.time()
            self._last_data = now
            if self.conn.their_state is h11.IDLE and self._waiting_since is None:
                self._waiting_since = now  # the first byte of a new request's headers
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:
                self._waiting_since = None

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._waiting_since = None  # keep-alive: uvicorn's own idle timeout applies

        def _check(self) -> None:
            if self.transport.is_closing():
                return
            now = self.loop.time()
            state = self.conn.their_state
            if (
                state is h11.IDLE
                and self._waiting_since is not None
                and now - self._waiting_since > header_timeout
            ):
                self._close_slow("headers", header_timeout)
                return
            if (
                state is h11.SEND_BODY
                and not self.flow.read_paused
                and now - self._last_data > body_idle_timeout
            ):
                self._close_slow("body", body_idle_timeout)
                return
            self._watchdog = self.loop.call_later(TICK_SECONDS, self._check)

        def _close_slow(self, part: str, limit: float) -> None:
            log.warning(
                "closed a slow client",
                extra={"client": self._peer, "waiting_for": part, "limit_seconds": limit},
            )
            if self.cycle is not None and not self.cycle.response_complete:
                self.cycle.disconnected = True
                self.cycle.message_event.set()
            self.transport.close()

    return GuardedH11Protocol


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Options for uvicorn.run/Config beyond app, host and port."""
    serving = settings.serving
    return {
        "http": guarded_protocol(
            serving.header_timeout_seconds,
            serving.body_idle_timeout_seconds,
            serving.connections_per_client,
        ),
        "timeout_keep_alive": serving.keep_alive_seconds,
        "limit_concurrency": serving.max_connections or None,
        "h11_max_incomplete_event_size": 64 * 1024,  # request line and headers at most
        "log_config": None,
        "timeout_graceful_shutdown": 10,
    }
