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
from sqlalchemy import and_, insert, select, update

from darkroom.adapters.sql import schema as t
from darkroom.adapters.sql.database import Database
from darkroom.domain.ids import stable_id
from darkroom.domain.recipe import RetryPolicy

log = logging.getLogger("darkroom.webhooks")

SIGNATURE_HEADER = "X-Darkroom-Signature"
DEFAULT_POLICY = RetryPolicy(max_attempts=8, backoff_seconds=5, backoff_max_seconds=3600)


def sign(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, body: bytes, header: str, tolerance: float = 300.0) -> bool:
    """What a receiver does: recompute the MAC and compare in constant time."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, body, timestamp), header)


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

    def deliveries(self, limit: int = 100) -> list[dict[str, Any]]:
        table = t.webhook_deliveries
        with self.db.read() as conn:
            rows = conn.execute(select(table).order_by(table.c.created_at).limit(limit)).all()
        return [dict(row._mapping) for row in rows]
