"""The public record of an image, the same for `--json`, `images show` and the HTTP API."""

from __future__ import annotations

from typing import Any

from darkroom.domain.records import Image, ImageStatus
from darkroom.engine.search import Hit
from darkroom.ports import BlobStore, Catalog


def original_location(image: Image, blobs: BlobStore, catalog: Catalog | None) -> str:
    """Where the image's original bytes are: its own (every upload keeps its bytes), or, for a
    duplicate made when duplicates shared the first's bytes, the first's. "" when none is."""
    if image.location and blobs.exists(image.location):
        return image.location
    if image.status is ImageStatus.DUPLICATE and image.duplicate_of and catalog is not None:
        holder = catalog.get_image(image.duplicate_of, image.owner)
        if holder is not None and holder.location and blobs.exists(holder.location):
            return holder.location
    return ""


def holder_of(image: Image, catalog: Catalog | None) -> Image | None:
    """The image that holds a duplicate's derivatives (a duplicate is stopped before any
    thumbnail is made for it); the image itself otherwise; None when the holder is gone."""
    if image.status is not ImageStatus.DUPLICATE or not image.duplicate_of or catalog is None:
        return image
    return catalog.get_image(image.duplicate_of, image.owner)


def image_record(image: Image, blobs: BlobStore, catalog: Catalog | None = None) -> dict[str, Any]:
    location = original_location(image, blobs, catalog) if catalog is not None else image.location
    holder = holder_of(image, catalog)
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
        **media_fields(image, blobs, catalog),
    }


def media_fields(image: Image, blobs: BlobStore, catalog: Catalog | None) -> dict[str, Any]:
    """A media library item (the media recipe): its kind and sku; a video's keyframes too."""
    media = image.metadata.get("media")
    if not media:
        return {}
    fields: dict[str, Any] = {"media": media, "sku": image.metadata.get("sku")}
    if media == "video" and catalog is not None and image.job_id:
        steps = catalog.step_outputs(image.job_id)
        fields["duration_ms"] = steps.get("validate", {}).get("duration_ms")
        fields["keyframes"] = [
            {
                "ms": frame["ms"],
                "shot": frame.get("shot"),
                "thumbnail": blobs.url(frame["key"]),
                "url": keyframe_path(image.id, frame["ms"]),
            }
            for frame in _keyframes(steps)
        ]
    return fields


def _keyframes(steps: dict[str, Any]) -> list[dict[str, Any]]:
    """The keyframes a job's keyframes step recorded (none if it did not run)."""
    return list(steps.get("keyframes", {}).get("keyframes", []))


def keyframe_path(image_id: str, ms: int) -> str:
    """The API's route to a keyframe (the storage URL beside it may not be reachable)."""
    return f"/images/{image_id}/keyframes/{ms}"


def keyframe_key(image: Image, ms: int, catalog: Catalog) -> str | None:
    """Where the keyframe of a video at `ms` is stored, if the keyframes step made one."""
    if not image.job_id:
        return None
    frames = _keyframes(catalog.step_outputs(image.job_id))
    return next((str(frame["key"]) for frame in frames if frame["ms"] == ms), None)


def hit_fields(hit: Hit, blobs: BlobStore) -> dict[str, Any]:
    """What a search hit adds to the record: scores, and for a video the moment that matched."""
    fields: dict[str, Any] = {"score": hit.score, "scores": hit.sources}
    if hit.frame_ms is not None:
        fields["frame_ms"] = hit.frame_ms
        fields["frame_thumbnail"] = blobs.url(hit.frame_key) if hit.frame_key else None
        fields["frame_url"] = keyframe_path(hit.image_id, hit.frame_ms) if hit.frame_key else None
    return fields
