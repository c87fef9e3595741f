"""Human review decisions in the catalog's database (table `reviews`)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, and_, insert, select, update

from darkroom.adapters.sql import schema as t
from darkroom.adapters.sql.database import Database
from darkroom.domain.review import Review


def _review(row: Row[Any]) -> Review:
    return Review(
        id=row.id,
        image_id=row.image_id,
        owner=row.owner,
        recipe=row.recipe,
        key_id=row.key_id,
        class_name=row.class_name,
        model_class=row.model_class,
        model_confidence=row.model_confidence,
        model_uncertain=bool(row.model_uncertain),
        previous_location=row.previous_location,
        decided_at=datetime.fromtimestamp(row.decided_at, UTC),
        undone_at=datetime.fromtimestamp(row.undone_at, UTC) if row.undone_at else None,
    )


class SqlReviews:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, review: Review) -> None:
        with self.db.atomic() as conn:
            conn.execute(
                insert(t.reviews).values(
                    id=review.id,
                    image_id=review.image_id,
                    owner=review.owner,
                    recipe=review.recipe,
                    key_id=review.key_id,
                    class_name=review.class_name,
                    model_class=review.model_class,
                    model_confidence=review.model_confidence,
                    model_uncertain=review.model_uncertain,
                    previous_location=review.previous_location,
                    decided_at=review.decided_at.timestamp(),
                )
            )

    def latest(self, image_id: str) -> Review | None:
        """The decision in force for an image: its newest one not undone."""
        c = t.reviews.c
        sql = (
            select(t.reviews)
            .where(and_(c.image_id == image_id, c.undone_at.is_(None)))
            .order_by(c.decided_at.desc(), c.id.desc())
            .limit(1)
        )
        with self.db.read() as conn:
            row = conn.execute(sql).first()
        return _review(row) if row is not None else None

    def last_by(self, owner: str, key_id: str) -> Review | None:
        """The newest decision of a key (for undo), not undone."""
        c = t.reviews.c
        sql = (
            select(t.reviews)
            .where(and_(c.owner == owner, c.key_id == key_id, c.undone_at.is_(None)))
            .order_by(c.decided_at.desc(), c.id.desc())
            .limit(1)
        )
        with self.db.read() as conn:
            row = conn.execute(sql).first()
        return _review(row) if row is not None else None

    def mark_undone(self, review_id: str) -> None:
        with self.db.atomic() as conn:
            conn.execute(
                update(t.reviews).where(t.reviews.c.id == review_id).values(undone_at=time.time())
            )

    def decisions(self, recipe: str, owner: str | None = None) -> list[Review]:
        """The decisions in force of a recipe (one per image: its latest), oldest first."""
        c = t.reviews.c
        sql = select(t.reviews).where(and_(c.recipe == recipe, c.undone_at.is_(None)))
        if owner is not None:
            sql = sql.where(c.owner == owner)
        with self.db.read() as conn:
            rows = conn.execute(sql.order_by(c.decided_at, c.id)).all()
        latest = {row.image_id: _review(row) for row in rows}
        return sorted(latest.values(), key=lambda r: r.decided_at)

    def history(self, owner: str | None = None, limit: int = 10_000) -> list[Review]:
        c = t.reviews.c
        sql = select(t.reviews).order_by(c.decided_at.desc()).limit(limit)
        if owner is not None:
            sql = sql.where(c.owner == owner)
        with self.db.read() as conn:
            return [_review(row) for row in conn.execute(sql)]
