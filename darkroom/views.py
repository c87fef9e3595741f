"""The public record of an image, the same for `--json`, `images show` and the HTTP API."""

from __future__ import annotations

from typing import Any

from darkroom.domain.records import Image, ImageStatus
from darkroom.ports import BlobStore, Catalog


def holder_of(image: Image, catalog: Catalog | None) -> Image | None:
    """The image that stores a duplicate's bytes and derivatives (a duplicate is stopped before
    any thumbnail is made for it); the image itself otherwise; None when the holder is gone."""
    if image.status is not ImageStatus.DUPLICATE or not image.duplicate_of or catalog is None:
        return image
    return catalog.get_image(image.duplicate_of, image.owner)


def image_record(image: Image, blobs: BlobStore, catalog: Catalog | None = None) -> dict[str, Any]:
    holder = holder_of(image, catalog)
    location = holder.location if holder is not None else ""
    thumbnail = holder.thumbnail if holder is not None else None
    return {
        "file": image.source if image.source and image.source != "upload" else image.filename,
        "image_id": image.id,
        "status": image.status.value,
        "class": image.class_name,
        "confidence": image.confidence,
        "uncertain": image.uncertain,
        "labels": [label.to_json() for label in image.labels],
        "location": blobs.url(location) if location else None,
        "thumbnail": blobs.url(thumbnail) if thumbnail else None,
        "width": image.width,
        "height": image.height,
        "sha256": image.sha256,
        "error": image.error,
        "format": image.format,
        "size_bytes": image.size_bytes,
        "recipe": image.recipe,
        "owner": image.owner,
        "duplicate_of": image.duplicate_of,
        "filename": image.filename,
        "created_at": image.created_at.isoformat(),
        "updated_at": image.updated_at.isoformat(),
    }
