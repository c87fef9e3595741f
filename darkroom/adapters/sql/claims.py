"""Claims taken with one INSERT before a request reads its body, so that of two concurrent
requests for the same thing exactly one writes, and what is stored is always that one's.

- A presigned URL may be used once, ever (until it expires): its claim is settled as `used` and
  outlives the image it made.
- An Idempotency-Key is held while the first request stores its file; the record's own unique
  key takes over once it is committed, and the claim is released.

A claim whose request failed before storing anything is released, so the client can try again;
one left `receiving` by a process that died mid-upload may be taken again after `stale_after`."""

from __future__ import annotations

import time

from sqlalchemy import and_, delete, update

from darkroom.adapters.sql import schema as t
from darkroom.adapters.sql.database import Database


class SqlClaims:
    def __init__(self, db: Database) -> None:
        self.db = db

    def take(self, key: str, owner: str, expires_at: float, stale_after: float = 900.0) -> bool:
        """True when this request now holds `key`; False when another holds (or used) it."""
        table = t.claims
        now = time.time()
        with self.db.atomic() as conn:
            inserted = conn.execute(
                self.db.insert_ignoring_conflicts(table).values(
                    key=key, owner=owner, state="receiving", claimed_at=now, expires_at=expires_at
                )
            )
            if inserted.rowcount:
                return True
            retaken = conn.execute(
                update(table)
                .where(
                    and_(
                        table.c.key == key,
                        table.c.state == "receiving",
                        table.c.claimed_at < now - stale_after,
                    )
                )
                .values(claimed_at=now)
            )
        return bool(retaken.rowcount)

    def settle(self, key: str) -> None:
        """The request stored what it claimed for: the claim stays, as `used`, until it expires."""
        with self.db.atomic() as conn:
            conn.execute(update(t.claims).where(t.claims.c.key == key).values(state="used"))

    def release(self, key: str) -> None:
        """Give back a claim (nothing was stored, or the record now guards the key itself)."""
        table = t.claims
        with self.db.atomic() as conn:
            conn.execute(
                delete(table).where(and_(table.c.key == key, table.c.state == "receiving"))
            )

    def forget_expired(self, now: float | None = None) -> int:
        table = t.claims
        with self.db.atomic() as conn:
            result = conn.execute(delete(table).where(table.c.expires_at < (now or time.time())))
        return int(result.rowcount or 0)
