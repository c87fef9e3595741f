"""The catalog on SQL: images, step results, content hashes, detection records, event outbox."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Row

from darkroom.adapters.sql import schema as t
from darkroom.adapters.sql.database import Database
from darkroom.domain.analysis import Analysis
from darkroom.domain.events import Event
from darkroom.domain.records import (
    IMAGE_UPDATABLE_FIELDS,
    DetectionRecord,
    FinishedStep,
    Image,
    ImageStatus,
    JobResults,
    Label,
)
from darkroom.ports import ImageQuery

_CHUNK = 500  # ids per IN (...) list, under SQLite's variable limit


def _epoch(moment: datetime) -> float:
    return moment.timestamp()


def _moment(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _image_row(image: Image) -> dict[str, Any]:
    return {
        "id": image.id,
        "owner": image.owner,
        "recipe": image.recipe,
        "filename": image.filename,
        "source": image.source,
        "location": image.location,
        "status": image.status.value,
        "idempotency_key": image.idempotency_key,
        "job_id": image.job_id,
        "content_type": image.content_type,
        "size_bytes": image.size_bytes,
        "sha256": image.sha256,
        "phash": image.phash,
        "format": image.format,
        "width": image.width,
        "height": image.height,
        "class_name": image.class_name,
        "confidence": image.confidence,
        "uncertain": image.uncertain,
        "labels": [label.to_json() for label in image.labels],
        "thumbnail": image.thumbnail,
        "duplicate_of": image.duplicate_of,
        "error": image.error,
        "metadata": image.metadata,
        "created_at": _epoch(image.created_at),
        "updated_at": _epoch(image.updated_at),
    }


def _image(row: Row[Any]) -> Image:
    data = row._mapping
    return Image(
        id=data["id"],
        owner=data["owner"],
        recipe=data["recipe"],
        filename=data["filename"],
        source=data["source"],
        location=data["location"],
        status=ImageStatus(data["status"]),
        idempotency_key=data["idempotency_key"],
        job_id=data["job_id"],
        content_type=data["content_type"],
        size_bytes=data["size_bytes"],
        sha256=data["sha256"],
        phash=data["phash"],
        format=data["format"],
        width=data["width"],
        height=data["height"],
        class_name=data["class_name"],
        confidence=data["confidence"],
        uncertain=bool(data["uncertain"]),
        labels=[Label.from_json(item) for item in data["labels"] or []],
        thumbnail=data["thumbnail"],
        duplicate_of=data["duplicate_of"],
        error=data["error"],
        metadata=data["metadata"] or {},
        created_at=_moment(data["created_at"]),
        updated_at=_moment(data["updated_at"]),
    )


def _updates_row(fields: dict[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - IMAGE_UPDATABLE_FIELDS - {"job_id", "recipe"}
    if unknown:
        raise ValueError(f"not updatable image fields: {sorted(unknown)}")
    row = dict(fields)
    if "status" in row:
        row["status"] = ImageStatus(row["status"]).value
    if "labels" in row:
        row["labels"] = [
            label.to_json() if isinstance(label, Label) else label for label in row["labels"]
        ]
    row["updated_at"] = time.time()
    return row


# The hot statements are built once: building and cache-keying a SQLAlchemy statement costs
# more than SQLite takes to run it. Parameters are bound at execution.
_IMAGE_BY_ID = select(t.images).where(t.images.c.id == bindparam("image_id"))
_IMAGE_BY_ID_AND_OWNER = _IMAGE_BY_ID.where(t.images.c.owner == bindparam("owner"))
_UPDATE_IMAGE = update(t.images).where(t.images.c.id == bindparam("_image_id"))
_IMAGES_FOR_UPDATE = (
    select(t.images.c.id)
    .where(t.images.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(t.images.c.id)
    .with_for_update()
)
_STEP_OUTPUTS = select(t.step_results.c.step, t.step_results.c.output).where(
    t.step_results.c.job_id == bindparam("job_id")
)
_MARK_PUBLISHED = (
    update(t.events)
    .where(t.events.c.id.in_(bindparam("ids", expanding=True)))
    .values(published=True)
)


class SqlCatalog:
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
            conn.execute(insert(t.images).values(**_image_row(image)))

    def get_image(self, image_id: str, owner: str | None = None) -> Image | None:
        with self.db.read() as conn:
            if owner is None:
                row = conn.execute(_IMAGE_BY_ID, {"image_id": image_id}).first()
            else:
                row = conn.execute(
                    _IMAGE_BY_ID_AND_OWNER, {"image_id": image_id, "owner": owner}
                ).first()
        return _image(row) if row is not None else None

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
        return _image(row) if row is not None else None

    def images_by_ids(self, ids: Sequence[str]) -> list[Image]:
        found: list[Image] = []
        with self.db.read() as conn:
            for start in range(0, len(ids), _CHUNK):
                chunk = list(ids[start : start + _CHUNK])
                rows = conn.execute(select(t.images).where(t.images.c.id.in_(chunk)))
                found.extend(_image(row) for row in rows)
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
            sql = sql.where(c.created_at >= _epoch(query.created_after))
        if query.created_before is not None:
            sql = sql.where(c.created_at < _epoch(query.created_before))
        if query.after_id is not None:
            sql = sql.where(c.id < query.after_id if query.newest_first else c.id > query.after_id)
        sql = sql.order_by(c.id.desc() if query.newest_first else c.id).limit(query.limit)
        with self.db.read() as conn:
            return [_image(row) for row in conn.execute(sql)]

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
            conn.execute(_UPDATE_IMAGE, {"_image_id": image_id, **_updates_row(fields)})

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

    # steps

    def step_outputs(self, job_id: str) -> dict[str, dict[str, Any]]:
        with self.db.read() as conn:
            return {
                step: output for step, output in conn.execute(_STEP_OUTPUTS, {"job_id": job_id})
            }

    def steps_outputs(self, job_ids: Sequence[str]) -> dict[str, dict[str, dict[str, Any]]]:
        found: dict[str, dict[str, dict[str, Any]]] = {}
        c = t.step_results.c
        with self.db.read() as conn:
            for start in range(0, len(job_ids), _CHUNK):
                chunk = list(job_ids[start : start + _CHUNK])
                for job_id, step, output in conn.execute(
                    select(c.job_id, c.step, c.output).where(c.job_id.in_(chunk))
                ):
                    found.setdefault(job_id, {})[step] = output
        return found

    def finish_steps(
        self,
        job_id: str,
        image_id: str,
        steps: Sequence[FinishedStep],
        image_updates: dict[str, Any] | None = None,
        events: Sequence[Event] = (),
    ) -> bool:
        return self.finish_jobs([JobResults(job_id, image_id, steps, image_updates, events)])[0]

    def finish_jobs(self, jobs: Sequence[JobResults]) -> list[bool]:
        now = time.time()
        with self.db.atomic() as conn:
            # Locked (on PostgreSQL, in id order) so a concurrent delete waits for this batch
            # or wins first.
            wanted = sorted({job.image_id for job in jobs})
            present = {row.id for row in conn.execute(_IMAGES_FOR_UPDATE, {"ids": wanted})}
            live = [job for job in jobs if job.image_id in present]  # deleted: nothing stored
            rows = [
                {
                    "job_id": job.job_id,
                    "step": item.step,
                    "image_id": job.image_id,
                    "output": item.output,
                    "seconds": item.seconds,
                    "finished_at": now,
                }
                for job in live
                for item in job.steps
            ]
            # One multi-row INSERT: RETURNING names the steps that were new. A step another
            # worker finished first keeps its first result, and its changes and events stand.
            stored = (
                {(row.job_id, row.step) for row in conn.execute(self._insert_step_results, rows)}
                if rows
                else set()
            )
            events: list[Event] = []
            for job in live:
                fresh = [item for item in job.steps if (job.job_id, item.step) in stored]
                merged: dict[str, Any] = {}
                for item in fresh:
                    merged.update(item.image_updates)
                merged.update(job.image_updates or {})
                if merged:
                    conn.execute(_UPDATE_IMAGE, {"_image_id": job.image_id, **_updates_row(merged)})
                events += [e for item in fresh for e in item.events] + list(job.events)
            self._insert_events(conn, events)
        return [job.image_id in present for job in jobs]

    def step_seconds(self) -> dict[str, tuple[int, float]]:
        """Per step name: how many finished, and the seconds they took in all."""
        c = t.step_results.c
        sql = select(c.step, func.count(), func.sum(c.seconds)).group_by(c.step)
        with self.db.read() as conn:
            return {step: (count, float(total or 0.0)) for step, count, total in conn.execute(sql)}

    def count_step_failure(self, job_id: str, step: str, error: str) -> int:
        table = t.step_failures
        key = and_(table.c.job_id == job_id, table.c.step == step)
        with self.db.atomic() as conn:
            current = conn.execute(select(table.c.failures).where(key)).scalar()
            if current is None:
                conn.execute(
                    insert(table).values(job_id=job_id, step=step, failures=1, last_error=error)
                )
                return 1
            conn.execute(update(table).where(key).values(failures=current + 1, last_error=error))
            return int(current) + 1

    def step_failures(self, job_id: str) -> dict[str, tuple[int, str]]:
        table = t.step_failures
        sql = select(table.c.step, table.c.failures, table.c.last_error).where(
            table.c.job_id == job_id
        )
        with self.db.read() as conn:
            return {step: (failures, error) for step, failures, error in conn.execute(sql)}

    def reset_step_failures(self, job_id: str) -> None:
        with self.db.atomic() as conn:
            conn.execute(delete(t.step_failures).where(t.step_failures.c.job_id == job_id))

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
            return [_image(row) for row in conn.execute(sql)]

    def claim_content(self, owner: str, sha256: str, image_id: str) -> str:
        table = t.contents
        key = and_(table.c.owner == owner, table.c.sha256 == sha256)
        with self.db.atomic() as conn:
            # Insert-or-keep, then read: two workers racing on the same bytes agree on one holder.
            conn.execute(
                self.db.insert_ignoring_conflicts(table).values(
                    owner=owner, sha256=sha256, image_id=image_id
                )
            )
            return str(conn.execute(select(table.c.image_id).where(key)).scalar_one())

    # detection records

    def put_detection_record(self, record: DetectionRecord) -> None:
        row = {
            "image_id": record.image_id,
            "detected_animal": record.detected_animal,
            "confidence_score": record.confidence_score,
            "timestamp": _epoch(record.timestamp),
            "s3_location": record.s3_location,
            "processing_status": record.processing_status,
            "file_size": record.file_size,
            "image_format": record.image_format,
        }
        table = t.detection_logs
        with self.db.atomic() as conn:
            conn.execute(delete(table).where(table.c.image_id == record.image_id))
            conn.execute(insert(table).values(**row))

    def delete_detection_records(self, image_id: str) -> None:
        with self.db.atomic() as conn:
            conn.execute(delete(t.detection_logs).where(t.detection_logs.c.image_id == image_id))

    def detection_records(self, image_id: str) -> list[DetectionRecord]:
        table = t.detection_logs
        with self.db.read() as conn:
            rows = conn.execute(select(table).where(table.c.image_id == image_id)).all()
        return [
            DetectionRecord(
                image_id=row.image_id,
                detected_animal=row.detected_animal,
                confidence_score=row.confidence_score,
                timestamp=_moment(row.timestamp),
                s3_location=row.s3_location,
                processing_status=row.processing_status,
                file_size=row.file_size,
                image_format=row.image_format,
            )
            for row in rows
        ]

    # event outbox

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
                "time": _epoch(item.time),
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
            Event(row.id, row.source, row.detail_type, _moment(row.time), row.detail)
            for row in rows
        ]

    def mark_events_published(self, ids: Sequence[str]) -> None:
        if not ids:
            return
        with self.db.atomic() as conn:
            for start in range(0, len(ids), _CHUNK):
                conn.execute(_MARK_PUBLISHED, {"ids": list(ids[start : start + _CHUNK])})

    # analyses

    def add_analysis(self, analysis: Analysis) -> Analysis:
        table = t.analyses
        with self.db.atomic() as conn:
            stored = conn.execute(select(table).where(table.c.id == analysis.id)).first()
            if stored is not None:  # a repeated step: its first analysis stands
                return _analysis(stored)
            latest = conn.execute(
                select(func.max(table.c.version)).where(table.c.image_id == analysis.image_id)
            ).scalar()
            version = int(latest or 0) + 1
            conn.execute(
                insert(table).values(
                    id=analysis.id,
                    image_id=analysis.image_id,
                    owner=analysis.owner,
                    version=version,
                    job_id=analysis.job_id,
                    provider=analysis.provider,
                    model=analysis.model,
                    seconds=analysis.seconds,
                    attempts=analysis.attempts,
                    prompt_hash=analysis.prompt_hash,
                    schema_hash=analysis.schema_hash,
                    result=analysis.result,
                    created_at=_epoch(analysis.created_at),
                )
            )
        return replace(analysis, version=version)

    def analyses(self, image_id: str) -> list[Analysis]:
        table = t.analyses
        sql = select(table).where(table.c.image_id == image_id).order_by(table.c.version.desc())
        with self.db.read() as conn:
            return [_analysis(row) for row in conn.execute(sql)]

    def latest_analysis(self, image_id: str) -> Analysis | None:
        table = t.analyses
        sql = (
            select(table)
            .where(table.c.image_id == image_id)
            .order_by(table.c.version.desc())
            .limit(1)
        )
        with self.db.read() as conn:
            row = conn.execute(sql).first()
        return _analysis(row) if row is not None else None


def _analysis(row: Row[Any]) -> Analysis:
    data = row._mapping
    return Analysis(
        id=data["id"],
        image_id=data["image_id"],
        owner=data["owner"],
        version=data["version"],
        provider=data["provider"],
        model=data["model"],
        seconds=data["seconds"],
        attempts=data["attempts"],
        prompt_hash=data["prompt_hash"],
        schema_hash=data["schema_hash"],
        result=data["result"],
        job_id=data["job_id"],
        created_at=_moment(data["created_at"]),
    )
