"""API keys (only their SHA-256 is stored) and per-period usage counts for quotas."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import and_, insert, select, update

from darkroom.adapters.sql import schema as t
from darkroom.adapters.sql.database import Database

PREFIX = "dk_"


@dataclass(frozen=True)
class ApiKey:
    id: str
    owner: str
    plan: str
    admin: bool
    created_at: float
    revoked: bool = False


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class SqlKeyStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, owner: str, plan: str, admin: bool = False) -> tuple[ApiKey, str]:
        """A new key; the secret is returned once and never stored."""
        key_id = secrets.token_hex(6)
        secret = f"{PREFIX}{key_id}_{secrets.token_urlsafe(24)}"
        now = time.time()
        with self.db.atomic() as conn:
            conn.execute(
                insert(t.api_keys).values(
                    id=key_id,
                    key_hash=_hash(secret),
                    owner=owner,
                    plan=plan,
                    admin=admin,
                    created_at=now,
                )
            )
        return ApiKey(key_id, owner, plan, admin, now), secret

    def verify(self, secret: str) -> ApiKey | None:
        if not secret.startswith(PREFIX):
            return None
        table = t.api_keys
        with self.db.read() as conn:
            row = conn.execute(
                select(table).where(
                    and_(table.c.key_hash == _hash(secret), table.c.revoked_at.is_(None))
                )
            ).first()
        if row is None:
            return None
        return ApiKey(row.id, row.owner, row.plan, bool(row.admin), row.created_at)

    def is_active(self, key_id: str) -> bool:
        """The key exists and is not revoked (what a presigned URL it issued depends on)."""
        table = t.api_keys
        with self.db.read() as conn:
            row = conn.execute(
                select(table.c.id).where(and_(table.c.id == key_id, table.c.revoked_at.is_(None)))
            ).first()
        return row is not None

    def list(self) -> list[ApiKey]:
        table = t.api_keys
        with self.db.read() as conn:
            rows = conn.execute(select(table).order_by(table.c.created_at)).all()
        return [
            ApiKey(r.id, r.owner, r.plan, bool(r.admin), r.created_at, r.revoked_at is not None)
            for r in rows
        ]

    def revoke(self, key_id: str) -> bool:
        table = t.api_keys
        with self.db.atomic() as conn:
            result = conn.execute(
                update(table)
                .where(and_(table.c.id == key_id, table.c.revoked_at.is_(None)))
                .values(revoked_at=time.time())
            )
        return bool(result.rowcount)

    def add_usage(self, key_id: str, period: str) -> int:
        """Count one request in the period; answer the period's total so far."""
        table = t.usage
        where = and_(table.c.key_id == key_id, table.c.period == period)
        with self.db.atomic() as conn:
            current = conn.execute(select(table.c.requests).where(where)).scalar()
            if current is None:
                conn.execute(insert(table).values(key_id=key_id, period=period, requests=1))
                return 1
            conn.execute(update(table).where(where).values(requests=current + 1))
            return int(current) + 1
