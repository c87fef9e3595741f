"""Webhook deliveries: durable, HMAC-SHA256 signed, retried with backoff, logged per attempt.

Signature header (Stripe-style, so receivers can reject replays by timestamp):
    X-Darkroom-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import and_, delete, insert, select, update

from darkroom.adapters.sql import schema as t
from darkroom.adapters.sql.database import Database
from darkroom.domain.events import Event
from darkroom.domain.ids import new_id, stable_id
from darkroom.domain.recipe import RetryPolicy

log = logging.getLogger("darkroom.webhooks")

SIGNATURE_HEADER = "X-Darkroom-Signature"
DEFAULT_POLICY = RetryPolicy(max_attempts=8, backoff_seconds=5, backoff_max_seconds=3600)


def sign(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, body: bytes | str, header: str, tolerance: float = 300.0) -> bool:
    """What a receiver does: recompute the MAC and compare in constant time. The body is the
    raw request body, as bytes or as the str it decodes to (UTF-8)."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, body, timestamp), header)


@dataclass(frozen=True)
class Subscription:
    id: str
    owner: str
    url: str
    secret: str
    detail_types: list[str]
    created_at: float

    def wants(self, detail_type: str) -> bool:
        return not self.detail_types or detail_type in self.detail_types

    def target(self) -> Target:
        return Target(self.url, self.secret, self.id, self.owner)


@dataclass(frozen=True)
class Target:
    url: str
    secret: str | None
    subscription_id: str | None = None
    owner: str | None = None


class Webhooks:
    def __init__(self, db: Database, policy: RetryPolicy = DEFAULT_POLICY, timeout: float = 10.0):
        self.db = db
        self.policy = policy
        self.timeout = timeout
        self._cache: tuple[float, list[Subscription]] | None = None

    def schedule(self, target: Target, detail_type: str, payload: dict[str, Any], key: str) -> str:
        """Record one delivery; the same key (an event id, a notification id) is scheduled once."""
        delivery_id = stable_id("delivery", target.subscription_id or target.url, key)
        now = time.time()
        with self.db.atomic() as conn:
            exists = conn.execute(
                select(t.webhook_deliveries.c.id).where(t.webhook_deliveries.c.id == delivery_id)
            ).first()
            if exists is None:
                conn.execute(
                    insert(t.webhook_deliveries).values(
                        id=delivery_id,
                        subscription_id=target.subscription_id,
                        owner=target.owner,
                        url=target.url,
                        secret=target.secret,
                        detail_type=detail_type,
                        payload=payload,
                        state="pending",
                        attempts=0,
                        next_attempt_at=now,
                        created_at=now,
                    )
                )
        return delivery_id

    def deliver_due(self, limit: int = 50) -> int:
        """Try every delivery that is due; answer how many were attempted."""
        table = t.webhook_deliveries
        due = and_(table.c.state == "pending", table.c.next_attempt_at <= time.time())
        with self.db.read() as conn:
            rows = conn.execute(
                select(table).where(due).order_by(table.c.next_attempt_at).limit(limit)
            ).all()
        if not rows:
            return 0
        with httpx.Client(timeout=self.timeout) as client:
            for row in rows:
                self._attempt(client, row)
        return len(rows)

    def _attempt(self, client: httpx.Client, row: Any) -> None:
        table = t.webhook_deliveries
        # Claim the attempt first, so two deliverers never send the same try.
        with self.db.atomic() as conn:
            claimed = conn.execute(
                update(table)
                .where(
                    and_(
                        table.c.id == row.id,
                        table.c.attempts == row.attempts,
                        table.c.state == "pending",
                    )
                )
                .values(attempts=row.attempts + 1, next_attempt_at=time.time() + self.timeout * 3)
            ).rowcount
        if not claimed:
            return
        body = json.dumps(row.payload, separators=(",", ":"), sort_keys=True).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "darkroom-webhooks/1",
            "X-Darkroom-Delivery": row.id,
            "X-Darkroom-Event": row.detail_type,
        }
        if row.secret:
            headers[SIGNATURE_HEADER] = sign(row.secret, body, int(time.time()))
        status: int | None = None
        error: str | None = None
        try:
            response = client.post(row.url, content=body, headers=headers)
            status = response.status_code
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        attempts = row.attempts + 1
        values: dict[str, Any] = {"last_status": status, "last_error": error}
        if error is None:
            values.update(state="delivered", delivered_at=time.time())
        elif attempts >= self.policy.max_attempts:
            values.update(state="failed")
        else:
            values.update(next_attempt_at=time.time() + self.policy.delay(attempts))
        with self.db.atomic() as conn:
            conn.execute(update(table).where(table.c.id == row.id).values(**values))
        log.info(
            "webhook delivery",
            extra={
                "delivery": row.id,
                "url": row.url,
                "status": status,
                "error": error,
                "attempt": attempts,
            },
        )

    def deliveries(
        self, limit: int = 100, subscription_id: str | None = None
    ) -> list[dict[str, Any]]:
        table = t.webhook_deliveries
        sql = select(table).order_by(table.c.created_at.desc()).limit(limit)
        if subscription_id is not None:
            sql = sql.where(table.c.subscription_id == subscription_id)
        with self.db.read() as conn:
            rows = conn.execute(sql).all()
        return [{k: v for k, v in row._mapping.items() if k != "secret"} for row in rows]

    def replay(
        self, subscription_id: str, delivery_id: str | None = None, since: float | None = None
    ) -> int:
        """Send again: one delivery (whatever its state), or every failed one since a time."""
        table = t.webhook_deliveries
        where = table.c.subscription_id == subscription_id
        if delivery_id is not None:
            where = and_(where, table.c.id == delivery_id)
        else:
            where = and_(where, table.c.state == "failed", table.c.created_at >= (since or 0.0))
        with self.db.atomic() as conn:
            result = conn.execute(
                update(table)
                .where(where)
                .values(state="pending", attempts=0, next_attempt_at=time.time())
            )
        return int(result.rowcount)

    # subscriptions

    def subscribe(self, owner: str, url: str, secret: str, detail_types: list[str]) -> Subscription:
        subscription = Subscription(
            new_id(), owner, url, secret, sorted(set(detail_types)), time.time()
        )
        with self.db.atomic() as conn:
            conn.execute(
                insert(t.webhook_subscriptions).values(
                    id=subscription.id,
                    owner=owner,
                    url=url,
                    secret=secret,
                    detail_types=subscription.detail_types,
                    created_at=subscription.created_at,
                )
            )
        self._cache = None
        return subscription

    def subscriptions(self, owner: str | None = None) -> list[Subscription]:
        table = t.webhook_subscriptions
        sql = select(table).order_by(table.c.created_at)
        if owner is not None:
            sql = sql.where(table.c.owner == owner)
        with self.db.read() as conn:
            rows = conn.execute(sql).all()
        return [
            Subscription(r.id, r.owner, r.url, r.secret, list(r.detail_types), r.created_at)
            for r in rows
        ]

    def unsubscribe(self, owner: str, subscription_id: str) -> bool:
        table = t.webhook_subscriptions
        with self.db.atomic() as conn:
            result = conn.execute(
                delete(table).where(and_(table.c.id == subscription_id, table.c.owner == owner))
            )
        self._cache = None
        return bool(result.rowcount)

    def fan_out(self, event: Event) -> None:
        """A bus subscriber: schedule a delivery of the event to each matching subscription of
        its owner. Keyed by event id, so a republished event is not delivered twice."""
        owner = event.detail.get("owner")
        for subscription in self._subscriptions_cached():
            if subscription.owner == owner and subscription.wants(event.detail_type):
                self.schedule(subscription.target(), event.detail_type, event.envelope(), event.id)

    def _subscriptions_cached(self) -> list[Subscription]:
        # Every job publishes about ten events; read the subscriptions once a second, not ten times.
        now = time.monotonic()
        if self._cache is None or now - self._cache[0] > 1.0:
            self._cache = (now, self.subscriptions())
        return self._cache[1]
