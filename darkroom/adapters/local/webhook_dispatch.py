"""Sending webhook deliveries many at once, so one slow receiver cannot stall the others.

A thread of its own (not the worker's housekeeping) takes due deliveries and hands each to a
pool of sender threads, keeping at most `per_subscription` attempts under way for one
subscription and `per_owner` for one owner: an owner whose receivers hang holds a few senders
for the timeout, and everyone else's deliveries go out beside them. The bounds are per process;
the claim in the database keeps two processes from sending the same attempt.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from darkroom.adapters.local.webhooks import Webhooks

log = logging.getLogger("darkroom.webhooks")


@dataclass(frozen=True)
class Bounds:
    senders: int = 16  # attempts under way in this process
    per_owner: int = 4
    per_subscription: int = 2
    poll_seconds: float = 0.2  # how often to look for due deliveries when nothing wakes it


class Dispatcher:
    def __init__(self, webhooks: Webhooks, bounds: Bounds | None = None) -> None:
        self.webhooks = webhooks
        self.bounds = bounds or Bounds()
        self._lock = threading.Lock()
        self._by_owner: Counter[str | None] = Counter()
        self._by_subscription: Counter[str] = Counter()
        self._running = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(self.bounds.senders, thread_name_prefix="webhook")
        self._client = webhooks.client(self.bounds.senders)
        self._operator = webhooks.operator_client()
        self._thread = threading.Thread(target=self._loop, name="webhook-dispatch", daemon=True)

    def start(self) -> Dispatcher:
        self._thread.start()
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._client.close()
        self._operator.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                started = self.dispatch()
            except Exception:  # the database away for a moment
                log.exception("webhook dispatch failed; trying again")
                started = 0
            if not started:
                self._wake.wait(self.bounds.poll_seconds)
                self._wake.clear()

    def dispatch(self) -> int:
        """Start every due delivery the bounds allow; answer how many started."""
        with self._lock:
            free = self.bounds.senders - self._running
            full_owners = [o for o, n in self._by_owner.items() if n >= self.bounds.per_owner]
            full_subscriptions = [
                s for s, n in self._by_subscription.items() if n >= self.bounds.per_subscription
            ]
        if free <= 0:
            return 0
        started = 0
        rows = self.webhooks.due(free * 4, full_subscriptions, full_owners)
        for row in rows:
            if started >= free or self._stop.is_set():
                break
            if not self._take(row):
                continue
            if not self.webhooks.claim(row):  # another process took it, or it was cancelled
                self._release(row)
                continue
            self._pool.submit(self._send, row)
            started += 1
        return started

    def _take(self, row: Any) -> bool:
        subscription = row.subscription_id or row.url
        with self._lock:
            if (
                self._running >= self.bounds.senders
                or self._by_owner[row.owner] >= self.bounds.per_owner
                or self._by_subscription[subscription] >= self.bounds.per_subscription
            ):
                return False
            self._running += 1
            self._by_owner[row.owner] += 1
            self._by_subscription[subscription] += 1
            return True

    def _release(self, row: Any) -> None:
        subscription = row.subscription_id or row.url
        with self._lock:
            self._running -= 1
            self._by_owner[row.owner] -= 1
            self._by_subscription[subscription] -= 1
            if not self._by_owner[row.owner]:
                del self._by_owner[row.owner]
            if not self._by_subscription[subscription]:
                del self._by_subscription[subscription]
        self._wake.set()

    def _send(self, row: Any) -> None:
        try:
            client = self._client if row.subscription_id is not None else self._operator
            self.webhooks.send(client, row)
        except Exception:
            log.exception("webhook delivery failed", extra={"delivery": row.id})
        finally:
            self._release(row)

    def busy(self) -> int:
        with self._lock:
            return self._running
