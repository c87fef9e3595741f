"""The catalog on SQL: images, step results, content hashes, detection records, event outbox.

SqlCatalog is one class, made of parts: the images here, the rest in catalog_*.py."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, select

from darkroom.adapters.sql import schema as t
from darkroom.adapters.sql.catalog_records import DetectionsAndAnalyses
from darkroom.adapters.sql.catalog_rows import (
    CHUNK,
    UPDATE_IMAGE,
    epoch,
    image_from_row,
    image_row,
    updates_row,
)
from darkroom.adapters.sql.catalog_steps import StepRecords
from darkroom.adapters.sql.database import Database
from darkroom.domain.records import Image, ImageStatus
from darkroom.ports import ImageQuery

# The hot statements are built once: building and cache-keying a SQLAlchemy statement costs
# more than SQLite takes to run it. Parameters are bound at execution.
_IMAGE_BY_ID = select(t.images).where(t.images.c.id == bindparam("image_id"))
_IMAGE_BY_ID_AND_OWNER = _IMAGE_BY_ID.where(t.images.c.owner == bindparam("owner"))


class SqlCatalog(StepRecords, DetectionsAndAnalyses):
    """Images here; step results and the event outbox in catalog_steps.py and
    catalog_events.py, detection records and analyses in catalog_records.py."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._insert_step_results = db.insert_ignoring_conflicts(t.step_results).returning(
            t.step_results.c.job_id, t.step_results.c.step
        )
        self._insert_event = db.insert_ignoring_conflicts(t.events)

    @contextmanager
    def atomic(self) -> Iterator[None]:
        with self.db.atomic():
            yield

    # images

    def add_image(self, image: Image) -> None:
        with self.db.atomic() as conn:
            conn.execute(insert(t.images).values(**image_row(image)))

    def get_image(self, image_id: str, owner: str | None = None) -> Image | None:
        with self.db.read() as conn:
            if owner is None:
                row = conn.execute(_IMAGE_BY_ID, {"image_id": image_id}).first()
            else:
                row = conn.execute(
                    _IMAGE_BY_ID_AND_OWNER, {"image_id": image_id, "owner": owner}
                ).first()
        return image_from_row(row) if row is not None else None

    def image_ids_starting(self, owner: str, prefix: str, limit: int) -> list[str]:
        query = (
            select(t.images.c.id)
            .where(t.images.c.owner == owner, t.images.c.id.startswith(prefix, autoescape=True))
            .order_by(t.images.c.id)
            .limit(limit)
        )
        with self.db.read() as conn:
            return [row.id for row in conn.execute(query)]

    def find_image(self, owner: str, idempotency_key: str) -> Image | None:
        query = select(t.images).where(
            and_(t.images.c.owner == owner, t.images.c.idempotency_key == idempotency_key)
        )
        with self.db.read() as conn:
            row = conn.execute(query).first()
        return image_from_row(row) if row is not None else None

    def images_by_ids(self, ids: Sequence[str]) -> list[Image]:
        found: list[Image] = []
        with self.db.read() as conn:
            for start in range(0, len(ids), CHUNK):
                chunk = list(ids[start : start + CHUNK])
                rows = conn.execute(select(t.images).where(t.images.c.id.in_(chunk)))
                found.extend(image_from_row(row) for row in rows)
        return found

    def list_images(self, query: ImageQuery) -> list[Image]:
        c = t.images.c
        sql = select(t.images).where(c.owner == query.owner)
        if query.status is not None:
            sql = sql.where(c.status == query.status.value)
        if query.class_name is not None:
            sql = sql.where(c.class_name == query.class_name)
        if query.uncertain is not None:
            sql = sql.where(c.uncertain == query.uncertain)
        if query.recipe is not None:
            sql = sql.where(c.recipe == query.recipe)
        if query.created_after is not None:
            sql = sql.where(c.created_at >= epoch(query.created_after))
        if query.created_before is not None:
            sql = sql.where(c.created_at < epoch(query.created_before))
        if query.after_id is not None:
            sql = sql.where(c.id < query.after_id if query.newest_first else c.id > query.after_id)
        sql = sql.order_by(c.id.desc() if query.newest_first else c.id).limit(query.limit)
        with self.db.read() as conn:
            return [image_from_row(row) for row in conn.execute(sql)]

    def count_by_status(self, owner: str | None = None) -> dict[str, int]:
        c = t.images.c
        sql = select(c.status, func.count()).group_by(c.status)
        if owner is not None:
            sql = sql.where(c.owner == owner)
        with self.db.read() as conn:
            return {status: count for status, count in conn.execute(sql)}

    def image_counts(self, owner: str | None = None) -> dict[tuple[str, str, bool], int]:
        """Counts by (status, class, uncertain): what /stats and /metrics report."""
        c = t.images.c
        sql = select(c.status, c.class_name, c.uncertain, func.count()).group_by(
            c.status, c.class_name, c.uncertain
        )
        if owner is not None:
            sql = sql.where(c.owner == owner)
        with self.db.read() as conn:
            return {
                (status, class_name or "", bool(uncertain)): count
                for status, class_name, uncertain, count in conn.execute(sql)
            }

    def fingerprints(self, owner: str) -> list[tuple[str, str | None, str | None]]:
        """(image id, sha256, perceptual hash) of every image of an owner."""
        c = t.images.c
        sql = select(c.id, c.sha256, c.phash).where(c.owner == owner)
        with self.db.read() as conn:
            return [(image_id, sha, phash) for image_id, sha, phash in conn.execute(sql)]

    def count_finished_since(self, since: float, owner: str | None = None) -> int:
        c = t.images.c
        final = ["completed", "rejected", "duplicate", "failed"]
        sql = select(func.count()).where(and_(c.updated_at >= since, c.status.in_(final)))
        if owner is not None:
            sql = sql.where(c.owner == owner)
        with self.db.read() as conn:
            return int(conn.execute(sql).scalar() or 0)

    def update_image(self, image_id: str, **fields: Any) -> None:
        with self.db.atomic() as conn:
            conn.execute(UPDATE_IMAGE, {"_image_id": image_id, **updates_row(fields)})

    def delete_image(self, image_id: str) -> None:
        with self.db.atomic() as conn:
            job_ids = select(t.step_results.c.job_id).where(t.step_results.c.image_id == image_id)
            conn.execute(delete(t.step_failures).where(t.step_failures.c.job_id.in_(job_ids)))
            conn.execute(delete(t.step_results).where(t.step_results.c.image_id == image_id))
            conn.execute(delete(t.images).where(t.images.c.id == image_id))
            conn.execute(delete(t.detection_logs).where(t.detection_logs.c.image_id == image_id))
            conn.execute(delete(t.contents).where(t.contents.c.image_id == image_id))
            conn.execute(delete(t.analyses).where(t.analyses.c.image_id == image_id))
            conn.execute(delete(t.facets).where(t.facets.c.image_id == image_id))
            conn.execute(delete(t.reviews).where(t.reviews.c.image_id == image_id))

    def orphaned_duplicates(self, limit: int = 100) -> list[Image]:
        images = t.images
        holders = images.alias("holders")
        sql = (
            select(images)
            .outerjoin(holders, holders.c.id == images.c.duplicate_of)
            .where(
                and_(
                    images.c.status == ImageStatus.DUPLICATE.value,
                    images.c.duplicate_of.is_not(None),
                    holders.c.id.is_(None),
                )
            )
            .limit(limit)
        )
        with self.db.read() as conn:
            return [image_from_row(row) for row in conn.execute(sql)]
