"""The catalog's event outbox on SQL: events stored with the change that caused them, read
back until published."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Insert, and_, bindparam, select, update

from darkroom.adapters.sql import schema as t
from darkroom.adapters.sql.catalog_rows import CHUNK, epoch, moment
from darkroom.adapters.sql.database import Database
from darkroom.domain.events import Event

# Built once, like catalog.py's hot statements.
_MARK_PUBLISHED = (
    update(t.events)
    .where(t.events.c.id.in_(bindparam("ids", expanding=True)))
    .values(published=True)
)


class EventOutbox:
    """SqlCatalog's events part."""

    db: Database
    _insert_event: Insert

    def add_events(self, events: Sequence[Event]) -> None:
        with self.db.atomic() as conn:
            self._insert_events(conn, events)

    def _insert_events(self, conn: Any, events: Sequence[Event], published: bool = False) -> None:
        if not events:
            return
        # The same event from a repeated run keeps its first copy (ids are derived, not random).
        rows = [
            {
                "id": item.id,
                "source": item.source,
                "detail_type": item.detail_type,
                "time": epoch(item.time),
                "detail": item.detail,
                "published": published,
            }
            for item in events
        ]
        conn.execute(self._insert_event, rows)

    def pending_events(self, limit: int = 100, older_than: float = 0.0) -> list[Event]:
        table = t.events
        sql = (
            select(table)
            .where(and_(table.c.published.is_(False), table.c.time <= time.time() - older_than))
            .order_by(table.c.time)
            .limit(limit)
        )
        with self.db.read() as conn:
            rows = conn.execute(sql).all()
        return [
            Event(row.id, row.source, row.detail_type, moment(row.time), row.detail) for row in rows
        ]

    def mark_events_published(self, ids: Sequence[str]) -> None:
        if not ids:
            return
        with self.db.atomic() as conn:
            for start in range(0, len(ids), CHUNK):
                conn.execute(_MARK_PUBLISHED, {"ids": list(ids[start : start + CHUNK])})
