"""Webhook subscriptions and their deliveries: durable, signed twice, retried with backoff,
logged per attempt, and only to addresses the egress policy allows (`egress.py`).

Signatures (`webhook_signing.py`): darkroom's `X-Darkroom-Signature` and the Standard Webhooks
headers `webhook-id`, `webhook-timestamp`, `webhook-signature`. Sending many at once, with
bounds per owner and per subscription, is `webhook_dispatch.py`'s job; this module sends one.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import and_, delete, exists, insert, or_, select, update

from darkroom.adapters.local.egress import EgressPolicy, EgressRefused, guarded_client
from darkroom.adapters.local.webhook_signing import SIGNATURE_HEADER, sign, signed_headers, verify
from darkroom.adapters.sql import schema as t
from darkroom.adapters.sql.database import Database
from darkroom.domain.events import Event
from darkroom.domain.ids import new_id, stable_id
from darkroom.domain.recipe import RetryPolicy

__all__ = ["SIGNATURE_HEADER", "Subscription", "Target", "Webhooks", "sign", "verify"]

log = logging.getLogger("darkroom.webhooks")

DEFAULT_POLICY = RetryPolicy(max_attempts=8, backoff_seconds=5, backoff_max_seconds=3600)
# The operator's own target (DARKROOM_NOTIFY_WEBHOOK_URL) is trusted wherever it points.
OPERATOR_EGRESS = EgressPolicy.of(["0.0.0.0/0", "::/0"], allow_http=True)
CANCELLED = "cancelled"  # its subscription was deleted: never sent again


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
    def __init__(
        self,
        db: Database,
        policy: RetryPolicy = DEFAULT_POLICY,
        timeout: float = 10.0,
        egress: EgressPolicy | None = None,
    ):
        self.db = db
        self.policy = policy
        self.timeout = timeout
        self.egress = egress or EgressPolicy()

    # scheduling

    def schedule(self, target: Target, detail_type: str, payload: dict[str, Any], key: str) -> str:
        """Record one delivery; the same key (an event id, a notification id) is scheduled once."""
        row = self._row(target, detail_type, payload, key, time.time())
        self._insert([row])
        return str(row["id"])

    def fan_out(self, event: Event) -> None:
        self.fan_out_many([event])

    def fan_out_many(self, events: Sequence[Event]) -> None:
        """A bus subscriber: schedule a delivery of each event to every matching subscription of
        its owner. Keyed by event id, so a republished event is not delivered twice. The
        subscriptions are read here, in the transaction that publishes the events (no cache): a
        subscription gets every event published after its 201."""
        owners = {str(e.detail["owner"]) for e in events if e.detail.get("owner") is not None}
        if not owners:
            return
        by_owner: dict[str, list[Subscription]] = {}
        for subscription in self.subscriptions(owners=owners):
            by_owner.setdefault(subscription.owner, []).append(subscription)
        now = time.time()
        rows = [
            self._row(subscription.target(), event.detail_type, event.envelope(), event.id, now)
            for event in events
            for subscription in by_owner.get(str(event.detail.get("owner")), [])
            if subscription.wants(event.detail_type)
        ]
        self._insert(rows)

    def _row(
        self, target: Target, detail_type: str, payload: dict[str, Any], key: str, now: float
    ) -> dict[str, Any]:
        return {
            "id": stable_id("delivery", target.subscription_id or target.url, key),
            "subscription_id": target.subscription_id,
            "owner": target.owner,
            "url": target.url,
            "secret": target.secret,
            "detail_type": detail_type,
            "payload": payload,
            "state": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }

    def _insert(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            with self.db.atomic() as conn:
                conn.execute(self.db.insert_ignoring_conflicts(t.webhook_deliveries), rows)

    # sending

    def due(
        self,
        limit: int = 50,
        skip_subscriptions: Collection[str] = (),
        skip_owners: Collection[str | None] = (),
    ) -> list[Any]:
        """Deliveries due now, oldest first, but none of these subscriptions or owners (those
        with as many attempts under way as they may have)."""
        table = t.webhook_deliveries
        where = and_(table.c.state == "pending", table.c.next_attempt_at <= time.time())
        if skip_subscriptions:
            where = and_(
                where,
                or_(
                    table.c.subscription_id.is_(None),
                    table.c.subscription_id.notin_(list(skip_subscriptions)),
                ),
            )
        owners = [owner for owner in skip_owners if owner is not None]
        if owners:
            where = and_(where, or_(table.c.owner.is_(None), table.c.owner.notin_(owners)))
        if None in skip_owners:
            where = and_(where, table.c.owner.is_not(None))
        with self.db.read() as conn:
            return list(
                conn.execute(
                    select(table).where(where).order_by(table.c.next_attempt_at).limit(limit)
                ).all()
            )

    def claim(self, row: Any) -> bool:
        """Take this attempt, so two deliverers never send the same try. A delivery whose
        subscription is gone is not taken (deleting one cancels its deliveries, and this
        catches one scheduled in the same moment)."""
        table = t.webhook_deliveries
        subscriptions = t.webhook_subscriptions
        alive = or_(
            table.c.subscription_id.is_(None),
            exists().where(subscriptions.c.id == table.c.subscription_id),
        )
        with self.db.atomic() as conn:
            claimed = conn.execute(
                update(table)
                .where(
                    and_(
                        table.c.id == row.id,
                        table.c.attempts == row.attempts,
                        table.c.state == "pending",
                        alive,
                    )
                )
                .values(attempts=row.attempts + 1, next_attempt_at=time.time() + self.timeout * 3)
            ).rowcount
        return bool(claimed)

    def client(self, max_connections: int = 20) -> httpx.Client:
        """A client that connects only where the egress policy allows (for subscriptions)."""
        return guarded_client(self.egress, self.timeout, max_connections)

    def operator_client(self, max_connections: int = 4) -> httpx.Client:
        return guarded_client(OPERATOR_EGRESS, self.timeout, max_connections)

    def send(self, client: httpx.Client, row: Any) -> None:
        """One claimed attempt: POST, then record what happened. Only the status line is read:
        a receiver cannot make darkroom hold a large answer."""
        body = json.dumps(row.payload, separators=(",", ":"), sort_keys=True).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "darkroom-webhooks/1",
            "X-Darkroom-Delivery": row.id,
            "X-Darkroom-Event": row.detail_type,
            **signed_headers(row.secret, row.id, body),
        }
        status: int | None = None
        error: str | None = None
        final = False
        try:
            if row.subscription_id is not None:
                self.egress.check_url(row.url)  # again: DNS or the allow-list may have changed
            with client.stream("POST", row.url, content=body, headers=headers) as response:
                status = response.status_code
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except EgressRefused as exc:
            error, final = f"refused: {exc}", True
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        self._record(row, status, error, final)

    def _record(self, row: Any, status: int | None, error: str | None, final: bool) -> None:
        table = t.webhook_deliveries
        attempts = row.attempts + 1
        values: dict[str, Any] = {"last_status": status, "last_error": error}
        if error is None:
            values.update(state="delivered", delivered_at=time.time())
        elif final or attempts >= self.policy.max_attempts:
            values.update(state="failed")
        else:
            values.update(next_attempt_at=time.time() + self.policy.delay(attempts))
        with self.db.atomic() as conn:
            conn.execute(
                update(table)  # unless cancelled or replayed meanwhile
                .where(
                    and_(
                        table.c.id == row.id,
                        table.c.state == "pending",
                        table.c.attempts == attempts,
                    )
                )
                .values(**values)
            )
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

    def deliver_due(self, limit: int = 50) -> int:
        """Try every delivery that is due, one after another; answer how many were attempted.
        (Workers use the Dispatcher, which sends many at once within bounds.)"""
        rows = self.due(limit)
        if not rows:
            return 0
        with self.client() as client, self.operator_client() as operator:
            for row in rows:
                if self.claim(row):
                    self.send(client if row.subscription_id is not None else operator, row)
        return len(rows)

    # the record

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
        self,
        subscription_id: str,
        delivery_id: str | None = None,
        since: float | None = None,
        failed_only: bool = False,
    ) -> int:
        """Send again: one delivery (whatever its state), or every delivery created since a
        time (every one by default; with `failed_only`, those that failed)."""
        table = t.webhook_deliveries
        where = and_(table.c.subscription_id == subscription_id, table.c.state != CANCELLED)
        if delivery_id is not None:
            where = and_(where, table.c.id == delivery_id)
        else:
            where = and_(where, table.c.created_at >= (since or 0.0))
            if failed_only:
                where = and_(where, table.c.state == "failed")
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
        return subscription

    def subscriptions(
        self, owner: str | None = None, owners: Collection[str] | None = None
    ) -> list[Subscription]:
        table = t.webhook_subscriptions
        sql = select(table).order_by(table.c.created_at)
        if owner is not None:
            sql = sql.where(table.c.owner == owner)
        if owners is not None:
            sql = sql.where(table.c.owner.in_(list(owners)))
        with self.db.read() as conn:
            rows = conn.execute(sql).all()
        return [
            Subscription(r.id, r.owner, r.url, r.secret, list(r.detail_types), r.created_at)
            for r in rows
        ]

    def unsubscribe(self, owner: str, subscription_id: str) -> bool:
        """Delete a subscription and cancel what it still had to send, at once."""
        table = t.webhook_subscriptions
        deliveries = t.webhook_deliveries
        with self.db.atomic() as conn:
            result = conn.execute(
                delete(table).where(and_(table.c.id == subscription_id, table.c.owner == owner))
            )
            if result.rowcount:
                conn.execute(
                    update(deliveries)
                    .where(
                        and_(
                            deliveries.c.subscription_id == subscription_id,
                            deliveries.c.state == "pending",
                        )
                    )
                    .values(state=CANCELLED, last_error="subscription deleted")
                )
        return bool(result.rowcount)
