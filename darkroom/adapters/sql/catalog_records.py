"""The catalog's records on SQL that steps leave beside the image: detection records (the
DynamoDB-shaped log) and an image's versioned analyses."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import delete, func, insert, select

from darkroom.adapters.sql import schema as t
from darkroom.adapters.sql.catalog_rows import analysis_from_row, epoch, moment
from darkroom.adapters.sql.database import Database
from darkroom.domain.analysis import Analysis
from darkroom.domain.records import DetectionRecord


class DetectionsAndAnalyses:
    """SqlCatalog's detection records and analyses."""

    db: Database

    def put_detection_record(self, record: DetectionRecord) -> None:
        row = {
            "image_id": record.image_id,
            "detected_animal": record.detected_animal,
            "confidence_score": record.confidence_score,
            "timestamp": epoch(record.timestamp),
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
                timestamp=moment(row.timestamp),
                s3_location=row.s3_location,
                processing_status=row.processing_status,
                file_size=row.file_size,
                image_format=row.image_format,
            )
            for row in rows
        ]

    def add_analysis(self, analysis: Analysis) -> Analysis:
        table = t.analyses
        with self.db.atomic() as conn:
            stored = conn.execute(select(table).where(table.c.id == analysis.id)).first()
            if stored is not None:  # a repeated step: its first analysis stands
                return analysis_from_row(stored)
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
                    created_at=epoch(analysis.created_at),
                )
            )
        return replace(analysis, version=version)

    def analyses(self, image_id: str) -> list[Analysis]:
        table = t.analyses
        sql = select(table).where(table.c.image_id == image_id).order_by(table.c.version.desc())
        with self.db.read() as conn:
            return [analysis_from_row(row) for row in conn.execute(sql)]

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
        return analysis_from_row(row) if row is not None else None
