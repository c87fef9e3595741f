"""The catalog's rows: records to and from table rows (times as epoch seconds), and what the
catalog's parts (images, steps, events, records) share: the image update and the IN-list size."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.engine import Row

from darkroom.adapters.sql import schema as t
from darkroom.domain.analysis import Analysis
from darkroom.domain.records import IMAGE_UPDATABLE_FIELDS, Image, ImageStatus, Label

CHUNK = 500  # ids per IN (...) list, under SQLite's variable limit


def epoch(when: datetime) -> float:
    return when.timestamp()


def moment(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def image_row(image: Image) -> dict[str, Any]:
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
        "created_at": epoch(image.created_at),
        "updated_at": epoch(image.updated_at),
    }


def image_from_row(row: Row[Any]) -> Image:
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
        created_at=moment(data["created_at"]),
        updated_at=moment(data["updated_at"]),
    )


def updates_row(fields: dict[str, Any]) -> dict[str, Any]:
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


# Built once, like catalog.py's hot statements: the image update the images and the steps share.
UPDATE_IMAGE = update(t.images).where(t.images.c.id == bindparam("_image_id"))


def analysis_from_row(row: Row[Any]) -> Analysis:
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
        created_at=moment(data["created_at"]),
    )
