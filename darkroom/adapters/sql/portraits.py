"""Consents and portrait requests in the catalogue database (SQLite or PostgreSQL).

Every read and write is scoped by owner: one API key's owner never sees another's visitors.
The store shares the catalogue's transactions (`Database.atomic` joins an outer one), so a
request row is written in the same transaction as its image record at intake.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, select, update

from darkroom.adapters.sql import schema as t
from darkroom.adapters.sql.database import Database
from darkroom.domain.portraits import Consent, PortraitRequest


@dataclass(frozen=True)
class PortraitRow:
    """A request with its image's status and last change (its completion, once completed)."""

    request: PortraitRequest
    status: str | None  # None: the upload has not arrived yet
    updated_at: float | None
    error: str | None


def _consent(row: Any) -> Consent:
    return Consent(
        owner=row.owner,
        user_id=row.user_id,
        name=row.name,
        agreed=bool(row.agreed),
        recorded_at=row.recorded_at,
        recorded_by=row.recorded_by,
        agreed_at=row.agreed_at,
        withdrawn_at=row.withdrawn_at,
    )


def _request(row: Any) -> PortraitRequest:
    return PortraitRequest(
        image_id=row.image_id,
        owner=row.owner,
        user_id=row.user_id,
        style=row.style,
        gender=row.gender,
        created_at=row.created_at,
    )


class SqlPortraitStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._insert_consent = db.insert_ignoring_conflicts(t.consents)
        self._insert_request = db.insert_ignoring_conflicts(t.portrait_requests)

    def record_consent(
        self, owner: str, user_id: str, name: str | None, agreed: bool, recorded_by: str
    ) -> Consent:
        """The visitor's answer, replacing the previous one. A withdrawal keeps the record
        (proof of when it happened) but not the name."""
        now = time.time()
        table = t.consents
        where = and_(table.c.owner == owner, table.c.user_id == user_id)
        values: dict[str, Any] = {
            "agreed": agreed,
            "recorded_at": now,
            "recorded_by": recorded_by,
            "name": name if agreed else None,
        }
        if agreed:
            values["agreed_at"] = now
            values["withdrawn_at"] = None
        else:
            values["withdrawn_at"] = now
        with self.db.atomic() as conn:
            conn.execute(
                self._insert_consent.values(owner=owner, user_id=user_id, **values)
            )  # a first answer; a later one updates below
            conn.execute(update(table).where(where).values(**values))
            row = conn.execute(select(table).where(where)).one()
        return _consent(row)

    def consent(self, owner: str, user_id: str) -> Consent | None:
        table = t.consents
        with self.db.read() as conn:
            row = conn.execute(
                select(table).where(and_(table.c.owner == owner, table.c.user_id == user_id))
            ).first()
        return _consent(row) if row is not None else None

    def add_request(self, request: PortraitRequest) -> None:
        """Once per image: a repeat (the PUT after its POST /portraits) keeps the first."""
        with self.db.atomic() as conn:
            conn.execute(
                self._insert_request.values(
                    image_id=request.image_id,
                    owner=request.owner,
                    user_id=request.user_id,
                    style=request.style,
                    gender=request.gender,
                    created_at=request.created_at,
                )
            )

    def request(self, image_id: str, owner: str | None = None) -> PortraitRequest | None:
        table = t.portrait_requests
        query = select(table).where(table.c.image_id == image_id)
        if owner is not None:
            query = query.where(table.c.owner == owner)
        with self.db.read() as conn:
            row = conn.execute(query).first()
        return _request(row) if row is not None else None

    def portraits(self, owner: str, user_id: str) -> list[PortraitRow]:
        """Every request of the visitor with its image's state, newest request first."""
        r, i = t.portrait_requests, t.images
        query = (
            select(r, i.c.status, i.c.updated_at, i.c.error)
            .select_from(r.outerjoin(i, i.c.id == r.c.image_id))
            .where(and_(r.c.owner == owner, r.c.user_id == user_id))
            .order_by(r.c.created_at.desc(), r.c.image_id.desc())
        )
        with self.db.read() as conn:
            return [
                PortraitRow(_request(row), row.status, row.updated_at, row.error)
                for row in conn.execute(query)
            ]

    def latest_completed(self, owner: str, user_id: str) -> PortraitRow | None:
        """The visitor's most recently completed portrait: a newer job shows only once it has
        completed, and one that failed leaves the older shown."""
        r, i = t.portrait_requests, t.images
        query = (
            select(r, i.c.status, i.c.updated_at, i.c.error)
            .select_from(r.join(i, i.c.id == r.c.image_id))
            .where(and_(r.c.owner == owner, r.c.user_id == user_id, i.c.status == "completed"))
            .order_by(i.c.updated_at.desc(), r.c.image_id.desc())
            .limit(1)
        )
        with self.db.read() as conn:
            row = conn.execute(query).first()
        return PortraitRow(_request(row), row.status, row.updated_at, row.error) if row else None

    def selfies_due(self, before: float, limit: int = 500) -> list[PortraitRequest]:
        """Requests older than `before` whose selfie and crop are still kept."""
        table = t.portrait_requests
        query = (
            select(table)
            .where(and_(table.c.created_at < before, table.c.selfie_expired_at.is_(None)))
            .order_by(table.c.created_at)
            .limit(limit)
        )
        with self.db.read() as conn:
            return [_request(row) for row in conn.execute(query)]

    def mark_selfies_expired(self, image_ids: list[str]) -> None:
        table = t.portrait_requests
        with self.db.atomic() as conn:
            conn.execute(
                update(table)
                .where(table.c.image_id.in_(image_ids))
                .values(selfie_expired_at=time.time())
            )

    def requests_older_than(self, before: float, limit: int = 500) -> list[PortraitRequest]:
        table = t.portrait_requests
        query = (
            select(table).where(table.c.created_at < before).order_by(table.c.created_at)
        ).limit(limit)
        with self.db.read() as conn:
            return [_request(row) for row in conn.execute(query)]

    def delete_request(self, image_id: str) -> None:
        table = t.portrait_requests
        with self.db.atomic() as conn:
            conn.execute(delete(table).where(table.c.image_id == image_id))

    def forget_events(self, owner: str, user_id: str) -> int:
        """The visitor's events (PortraitReady names them) and webhook deliveries of them, sent
        or not: erasure reaches the outbox and the delivery log too."""
        events, deliveries = t.events, t.webhook_deliveries
        with self.db.atomic() as conn:
            gone = conn.execute(
                delete(events).where(
                    and_(
                        events.c.detail["owner"].as_string() == owner,
                        events.c.detail["user_id"].as_string() == user_id,
                    )
                )
            ).rowcount
            gone += conn.execute(
                delete(deliveries).where(
                    and_(
                        deliveries.c.owner == owner,
                        deliveries.c.payload[("detail", "user_id")].as_string() == user_id,
                    )
                )
            ).rowcount
        return int(gone or 0)

    def delete_requests(self, owner: str, user_id: str) -> int:
        table = t.portrait_requests
        with self.db.atomic() as conn:
            result = conn.execute(
                delete(table).where(and_(table.c.owner == owner, table.c.user_id == user_id))
            )
        return int(result.rowcount or 0)
